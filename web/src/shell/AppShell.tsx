import { useEffect, useRef, useState } from 'react';
import { Outlet, useLocation, useNavigation } from 'react-router';

import { LiveProvider } from '../live/LiveProvider';
import { IconButton } from '../ui/Button';
import { useModalDialog } from '../ui/Dialog';
import { ErrorBoundary } from '../ui/ErrorBoundary';
import { MenuIcon, XIcon } from '../ui/icons';
import { LiveIndicator } from './LiveIndicator';
import { Logo } from './Logo';
import { NavList } from './NavList';
import { useSearchShortcut } from './searchShortcut';
import { ThemeToggle } from './ThemeToggle';
import { UserMenu } from './UserMenu';

/** A thin bar at the top while the next page's code or data loads. */
function RouteProgress() {
  const navigation = useNavigation();
  const busy = navigation.state !== 'idle';
  return (
    <div aria-hidden="true" className="pointer-events-none fixed inset-x-0 top-0 z-50 h-0.5">
      <div className={busy ? 'h-full w-2/3 animate-pulse bg-brand-500 transition-[width] duration-700' : 'h-full w-0'} />
    </div>
  );
}

function SkipLink() {
  return (
    <a
      href="#main"
      className="sr-only z-50 rounded-md bg-white px-3 py-2 text-sm font-medium shadow focus:not-sr-only focus:fixed focus:top-3 focus:left-3 dark:bg-zinc-900"
    >
      Skip to content
    </a>
  );
}

/** The phone drawer: a modal <dialog> (focus trap, Esc, inert background for free). */
function MobileDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const ref = useModalDialog(open);
  return (
    <dialog
      ref={ref}
      aria-label="Navigation"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => e.target === e.currentTarget && onClose()}
      className="m-0 h-dvh max-h-none w-72 max-w-[85vw] border-r border-zinc-200 bg-white p-0 text-zinc-900 dark:border-zinc-800 dark:bg-zinc-950 dark:text-zinc-100"
    >
      {open && (
        <div className="flex h-full flex-col gap-6 p-4">
          <div className="flex items-center justify-between">
            <Logo />
            <IconButton label="Close navigation" onClick={onClose}>
              <XIcon className="size-5" />
            </IconButton>
          </div>
          <div className="flex-1 overflow-y-auto">
            <NavList onNavigate={onClose} />
          </div>
          <div className="space-y-3 border-t border-zinc-200 pt-4 dark:border-zinc-800">
            <ThemeToggle />
            <UserMenu direction="up" />
          </div>
        </div>
      )}
    </dialog>
  );
}

/**
 * The signed-in frame: a sidebar on wide screens, a top bar with a drawer on phones, and the
 * page in <main>. It also opens the live socket (LiveProvider) for every page inside.
 */
export function AppShell() {
  const [drawer, setDrawer] = useState(false);
  const location = useLocation();
  const main = useRef<HTMLElement>(null);
  useSearchShortcut();

  // After a client-side navigation, move focus to the page (as a full load would) so that
  // keyboard and screen-reader users start at the new content. A page that placed the focus
  // itself (the search page's box) keeps it.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const active = document.activeElement;
    if (!(active && active !== main.current && main.current?.contains(active))) main.current?.focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }, [location.pathname]);

  return (
    <LiveProvider>
      <SkipLink />
      <RouteProgress />
      <div className="min-h-dvh lg:grid lg:grid-cols-[16rem_1fr]">
        <aside className="sticky top-0 hidden h-dvh flex-col gap-6 border-r border-zinc-200 bg-zinc-50/80 p-4 lg:flex dark:border-zinc-800/80 dark:bg-zinc-900/40">
          <div className="flex items-center justify-between px-1">
            <Logo />
            <LiveIndicator />
          </div>
          <div className="flex-1 overflow-y-auto">
            <NavList />
          </div>
          <div className="space-y-3">
            <ThemeToggle />
            <UserMenu direction="up" />
          </div>
        </aside>

        <header className="sticky top-0 z-30 flex h-14 items-center gap-2 border-b border-zinc-200 bg-white/85 px-3 backdrop-blur lg:hidden dark:border-zinc-800 dark:bg-zinc-950/85">
          <IconButton label="Open navigation" aria-expanded={drawer} onClick={() => setDrawer(true)}>
            <MenuIcon className="size-5" />
          </IconButton>
          <Logo />
          <span className="ml-auto">
            <LiveIndicator />
          </span>
        </header>
        <MobileDrawer open={drawer} onClose={() => setDrawer(false)} />

        <main id="main" ref={main} tabIndex={-1} className="min-w-0 outline-none">
          <div className="mx-auto w-full max-w-6xl px-4 py-6 sm:px-6 lg:px-10 lg:py-10">
            <ErrorBoundary key={location.pathname}>
              <Outlet />
            </ErrorBoundary>
          </div>
        </main>
      </div>
    </LiveProvider>
  );
}
