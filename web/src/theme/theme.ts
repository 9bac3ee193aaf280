import { useSyncExternalStore } from 'react';

/** What the user picked; `system` follows the operating system. */
export type ThemeChoice = 'light' | 'dark' | 'system';
export type ResolvedTheme = 'light' | 'dark';

/** Also read by public/theme-init.js, which applies the theme before the first paint. */
export const THEME_KEY = 'tessera.theme';
const DARK_QUERY = '(prefers-color-scheme: dark)';

const listeners = new Set<() => void>();

function isChoice(value: unknown): value is ThemeChoice {
  return value === 'light' || value === 'dark' || value === 'system';
}

/** The stored choice; `system` when nothing (or nothing valid) is stored. */
export function readThemeChoice(): ThemeChoice {
  try {
    const stored = localStorage.getItem(THEME_KEY);
    return isChoice(stored) ? stored : 'system';
  } catch {
    return 'system';
  }
}

function systemPrefersDark(): boolean {
  return typeof window.matchMedia === 'function' && window.matchMedia(DARK_QUERY).matches;
}

export function resolveTheme(choice: ThemeChoice, prefersDark = systemPrefersDark()): ResolvedTheme {
  if (choice === 'system') return prefersDark ? 'dark' : 'light';
  return choice;
}

/** Puts the theme on <html>; Tailwind's `dark:` variant keys off the class. */
export function applyTheme(choice: ThemeChoice = readThemeChoice()): ResolvedTheme {
  const resolved = resolveTheme(choice);
  const root = document.documentElement;
  root.classList.toggle('dark', resolved === 'dark');
  root.style.colorScheme = resolved;
  return resolved;
}

export function setThemeChoice(choice: ThemeChoice): void {
  try {
    if (choice === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, choice);
  } catch {
    // Storage blocked: the choice lasts for this page only.
  }
  current = choice;
  applyTheme(choice);
  listeners.forEach((l) => l());
}

let current: ThemeChoice | undefined;
let watching = false;

/** Follows the OS setting (for `system`) and choices made in other tabs. */
function watch(): void {
  if (watching) return;
  watching = true;
  if (typeof window.matchMedia === 'function') {
    window.matchMedia(DARK_QUERY).addEventListener('change', () => {
      applyTheme(getChoice());
      listeners.forEach((l) => l());
    });
  }
  window.addEventListener('storage', (e) => {
    if (e.key !== THEME_KEY && e.key !== null) return;
    current = readThemeChoice();
    applyTheme(current);
    listeners.forEach((l) => l());
  });
}

function getChoice(): ThemeChoice {
  current ??= readThemeChoice();
  return current;
}

function subscribe(listener: () => void): () => void {
  watch();
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The theme choice, the theme in effect, and a setter; re-renders when either changes. */
export function useTheme(): { choice: ThemeChoice; resolved: ResolvedTheme; setChoice: (c: ThemeChoice) => void } {
  const choice = useSyncExternalStore(subscribe, getChoice, () => 'system' as const);
  const resolved = useSyncExternalStore(
    subscribe,
    () => resolveTheme(getChoice()),
    () => 'light' as const,
  );
  return { choice, resolved, setChoice: setThemeChoice };
}

/** For tests: forget the cached choice. */
export function resetThemeForTests(): void {
  current = undefined;
}
