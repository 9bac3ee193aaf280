import { useEffect } from 'react';
import { useNavigate } from 'react-router';

/** The attribute that marks the page's search box: the shortcut focuses it when there is one. */
export const SEARCH_BOX_SELECTOR = 'input[data-search-box]';

/** The shortcuts, as `aria-keyshortcuts` spells them. */
export const SEARCH_SHORTCUTS = '/ Control+K Meta+K';

/** Whether the key went to something that takes text (the shortcut then types, as usual). */
export function isTypingIn(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return Boolean(el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)));
}

/** `/`, or Ctrl-K (Cmd-K on a Mac), not typed into a field. */
export function isSearchShortcut(e: KeyboardEvent): boolean {
  if (e.defaultPrevented || e.isComposing || e.altKey) return false;
  const slash = e.key === '/' && !e.ctrlKey && !e.metaKey;
  const k = e.key.toLowerCase() === 'k' && (e.ctrlKey || e.metaKey) && !e.shiftKey;
  return (slash || k) && !isTypingIn(e.target);
}

/**
 * The global search shortcut of the signed-in app: it focuses the page's search box (the search
 * page's, the library's) or, where there is none, opens `/search` with the cursor in its box.
 * Not while a modal dialog is open (it has the focus trap), nor while typing.
 */
export function useSearchShortcut(): void {
  const navigate = useNavigate();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!isSearchShortcut(e) || document.querySelector('dialog[open]')) return;
      e.preventDefault();
      const box = document.querySelector<HTMLInputElement>(SEARCH_BOX_SELECTOR);
      if (box) {
        box.focus();
        box.select();
        return;
      }
      void navigate('/search', { state: { focusSearch: true } });
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [navigate]);
}
