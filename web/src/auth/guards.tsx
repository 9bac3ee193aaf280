import { useDeferredValue, type ReactNode } from 'react';
import { Navigate, Outlet, useLocation, useSearchParams } from 'react-router';

import { EmptyState } from '../ui/EmptyState';
import { ErrorPanel } from '../ui/ErrorBoundary';
import { ShieldIcon } from '../ui/icons';
import { PageHeader } from '../ui/PageHeader';
import { useAuth } from './AuthContext';
import { safeNext, signInPath } from './next';

/** Signed-in pages: while the user loads, `fallback`; signed out, to /signin?next=<here>. */
export function RequireAuth({ children, fallback = null }: { children?: ReactNode; fallback?: ReactNode }) {
  const auth = useAuth();
  const { error, retry } = auth;
  // The signed-in frame and its page are a large render: once the user is known it happens at a
  // lower priority, in slices between which the browser stays responsive (not one long task).
  const status = useDeferredValue(auth.status, 'loading');
  const location = useLocation();
  if (status === 'loading') return fallback;
  if (status === 'unreachable') {
    return (
      <main id="main" className="mx-auto flex min-h-dvh max-w-lg flex-col justify-center px-4">
        <ErrorPanel title="Cannot reach Tessera" error={error} retry={retry} />
      </main>
    );
  }
  if (status === 'signed-out') return <Navigate to={signInPath(location)} replace />;
  return children ?? <Outlet />;
}

/** Admin pages: others see a "no access" page (the API would refuse them anyway). */
export function RequireAdmin({ children }: { children?: ReactNode }) {
  const { isAdmin } = useAuth();
  if (!isAdmin) {
    return (
      <>
        <PageHeader title="No access" />
        <EmptyState
          icon={<ShieldIcon />}
          title="Administrators only"
          description="This page is for administrators of this Tessera server."
        />
      </>
    );
  }
  return children ?? <Outlet />;
}

/** Sign-in and sign-up pages: a signed-in user goes straight on to `next`. */
export function RedirectIfSignedIn({ children }: { children?: ReactNode }) {
  const { status } = useAuth();
  const [params] = useSearchParams();
  if (status === 'signed-in') return <Navigate to={safeNext(params.get('next'))} replace />;
  return children ?? <Outlet />;
}
