import { useEffect, useState, type ReactNode } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';

function tokenOf(hash: string): string | null {
  const raw = hash.replace(/^#/, '').trim();
  if (!raw) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The token of a one-time link (`/setup#<token>`, `/reset#<token>`), read once. The part after `#`
 * never reaches the server with the page; here it goes only into the API request. It is removed
 * from the address bar at once (a `replaceState` through the router, which keeps in step), so it
 * stays out of the history, bookmarks and screen shares.
 */
export function useLinkToken(): string | null {
  const location = useLocation();
  const navigate = useNavigate();
  const [token] = useState(() => tokenOf(location.hash));
  const { pathname, search, hash, state } = location;
  useEffect(() => {
    if (hash) void navigate({ pathname, search, hash: '' }, { replace: true, state });
  }, [hash, pathname, search, state, navigate]);
  return token;
}

export const textLinkClass = 'font-medium text-brand-600 hover:underline dark:text-brand-100';

/** What a one-time-link page (or sign-up, once requested) shows instead of its form: why, and the way on (to sign in). */
export function LinkNotice({
  children,
  alert = false,
  action = 'Go to sign in',
  to = '/signin',
}: {
  children: ReactNode;
  alert?: boolean;
  action?: string;
  /** The sign-in page, with its `?next=` where there is one. */
  to?: string;
}) {
  return (
    <div className="space-y-4">
      <div role={alert ? 'alert' : undefined} className="space-y-2 text-sm text-zinc-700 dark:text-zinc-300">
        {children}
      </div>
      <Link
        to={to}
        className="inline-flex h-10 w-full items-center justify-center rounded-lg bg-brand-600 px-4 text-sm font-medium text-white hover:bg-brand-700"
      >
        {action}
      </Link>
    </div>
  );
}
