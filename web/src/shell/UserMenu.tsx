import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { useNavigate } from 'react-router';

import { useAuth } from '../auth/AuthContext';
import { cx } from '../ui/cx';
import { ChevronDownIcon, KeyIcon, LogOutIcon, ShieldIcon } from '../ui/icons';
import { Badge } from '../ui/Badge';
import { useToast } from '../ui/toast';

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? '') : '')).toUpperCase();
}

/**
 * The account button and its menu (menu-button pattern: arrows move, Esc closes and returns
 * focus, a click outside closes). `direction` says where the menu opens.
 */
export function UserMenu({ direction = 'up' }: { direction?: 'up' | 'down' }) {
  const { user, isAdmin, signOut } = useAuth();
  const navigate = useNavigate();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const menuId = useId();

  const items = () => [...(menu.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];

  useEffect(() => {
    if (!open) return;
    items()[0]?.focus();
    const onPointer = (e: PointerEvent) => {
      const t = e.target as Node;
      if (!menu.current?.contains(t) && !button.current?.contains(t)) setOpen(false);
    };
    document.addEventListener('pointerdown', onPointer);
    return () => document.removeEventListener('pointerdown', onPointer);
  }, [open]);

  if (!user) return null;

  const close = (focusButton = true) => {
    setOpen(false);
    if (focusButton) button.current?.focus();
  };

  const onMenuKey = (e: KeyboardEvent) => {
    const list = items();
    const i = list.indexOf(document.activeElement as HTMLElement);
    const move = (to: number) => {
      e.preventDefault();
      list[(to + list.length) % list.length]?.focus();
    };
    if (e.key === 'ArrowDown') move(i + 1);
    else if (e.key === 'ArrowUp') move(i - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(list.length - 1);
    else if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'Tab') close(false);
  };

  const itemClass =
    'flex w-full items-center gap-2.5 rounded-md px-2.5 py-2 text-left text-sm text-zinc-700 outline-none ' +
    'hover:bg-zinc-100 focus:bg-zinc-100 dark:text-zinc-200 dark:hover:bg-zinc-800 dark:focus:bg-zinc-800';

  return (
    <div className="relative">
      <button
        ref={button}
        type="button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            setOpen(true);
          }
        }}
        className="flex w-full items-center gap-2.5 rounded-lg p-1.5 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800/70"
      >
        <span aria-hidden="true" className="flex size-8 shrink-0 items-center justify-center rounded-full bg-brand-600 text-xs font-semibold text-white">
          {initials(user.display_name)}
        </span>
        <span className="min-w-0 flex-1">
          <span className="block truncate text-sm font-medium">{user.display_name}</span>
          <span className="block truncate text-xs text-zinc-500 dark:text-zinc-400">{user.email}</span>
        </span>
        <ChevronDownIcon className={cx('size-4 shrink-0 text-zinc-400 transition-transform', open && 'rotate-180')} />
      </button>
      {open && (
        <div
          ref={menu}
          id={menuId}
          role="menu"
          aria-label="Account"
          onKeyDown={onMenuKey}
          className={cx(
            'absolute right-0 left-0 z-40 min-w-56 rounded-xl border border-zinc-200 bg-white p-1 shadow-xl dark:border-zinc-800 dark:bg-zinc-900',
            direction === 'up' ? 'bottom-full mb-2' : 'top-full mt-2 left-auto',
          )}
        >
          <div className="flex items-center justify-between gap-2 px-2.5 py-2" role="none">
            <span className="truncate text-xs text-zinc-500 dark:text-zinc-400">{user.email}</span>
            {isAdmin && <Badge tone="brand">Admin</Badge>}
          </div>
          <div className="my-1 h-px bg-zinc-200 dark:bg-zinc-800" role="separator" />
          <button
            type="button"
            role="menuitem"
            tabIndex={-1}
            className={itemClass}
            onClick={() => {
              close(false);
              void navigate('/settings/api-keys');
            }}
          >
            <KeyIcon /> API keys
          </button>
          <button
            type="button"
            role="menuitem"
            tabIndex={-1}
            className={itemClass}
            onClick={() => {
              close(false);
              void navigate('/settings/security');
            }}
          >
            <ShieldIcon /> Security
          </button>
          <button
            type="button"
            role="menuitem"
            tabIndex={-1}
            className={itemClass}
            onClick={async () => {
              close(false);
              await signOut();
              toast.info('Signed out');
              void navigate('/signin', { replace: true });
            }}
          >
            <LogOutIcon /> Sign out
          </button>
        </div>
      )}
    </div>
  );
}
