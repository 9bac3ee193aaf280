import { NavLink } from 'react-router';

import { useAuth } from '../auth/AuthContext';
import { cx } from '../ui/cx';
import { ADMIN_NAV, MAIN_NAV, type NavItem } from './nav';

function Item({ item, onNavigate }: { item: NavItem; onNavigate?: (() => void) | undefined }) {
  return (
    <li>
      <NavLink
        to={item.to}
        onClick={onNavigate}
        className={({ isActive }) =>
          cx(
            'flex h-9 items-center gap-3 rounded-lg px-2.5 text-sm font-medium transition-colors',
            isActive
              ? 'bg-zinc-200/70 text-zinc-900 dark:bg-zinc-800 dark:text-zinc-50'
              : 'text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800/60 dark:hover:text-zinc-100',
          )
        }
      >
        <item.Icon className="size-[18px] shrink-0" />
        {item.label}
        {item.shortcut && (
          <kbd aria-hidden="true" className="ml-auto hidden rounded border border-zinc-300 px-1.5 font-sans text-[11px] leading-4 text-zinc-500 lg:inline dark:border-zinc-700 dark:text-zinc-400">
            {item.shortcut}
          </kbd>
        )}
      </NavLink>
    </li>
  );
}

/** The navigation links (sidebar and phone drawer); `aria-current="page"` marks the active one. */
export function NavList({ onNavigate }: { onNavigate?: () => void }) {
  const { isAdmin } = useAuth();
  return (
    <nav aria-label="Main" className="flex flex-col gap-6">
      <ul className="space-y-0.5">
        {MAIN_NAV.map((item) => (
          <Item key={item.to} item={item} onNavigate={onNavigate} />
        ))}
      </ul>
      {isAdmin && (
        <div>
          <h2 className="mb-1 px-2.5 text-xs font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-500">Admin</h2>
          <ul className="space-y-0.5">
            {ADMIN_NAV.map((item) => (
              <Item key={item.to} item={item} onNavigate={onNavigate} />
            ))}
          </ul>
        </div>
      )}
    </nav>
  );
}
