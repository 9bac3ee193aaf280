import { NavLink } from 'react-router';

import { ADMIN_NAV } from '../../shell/nav';
import { cx } from '../../ui/cx';

/** Tabs between the admin pages (links; the current one has `aria-current="page"`). */
export function AdminNav() {
  return (
    <nav aria-label="Administration" className="-mx-4 mb-6 overflow-x-auto border-b border-zinc-200 px-4 sm:mx-0 sm:px-0 dark:border-zinc-800">
      <ul className="flex gap-1">
        {ADMIN_NAV.map(({ to, label, Icon }) => (
          <li key={to}>
            <NavLink
              to={to}
              className={({ isActive }) =>
                cx(
                  '-mb-px flex h-10 items-center gap-2 border-b-2 px-3 text-sm font-medium whitespace-nowrap transition-colors',
                  isActive
                    ? 'border-brand-600 text-zinc-900 dark:border-brand-500 dark:text-zinc-50'
                    : 'border-transparent text-zinc-600 hover:border-zinc-300 hover:text-zinc-900 dark:text-zinc-400 dark:hover:border-zinc-600 dark:hover:text-zinc-100',
                )
              }
            >
              <Icon />
              {label}
            </NavLink>
          </li>
        ))}
      </ul>
    </nav>
  );
}
