import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import initScript from '../../public/theme-init.js?raw';
import { applyTheme, readThemeChoice, resetThemeForTests, resolveTheme, setThemeChoice, THEME_KEY } from './theme';

function prefersDark(dark: boolean) {
  vi.stubGlobal('matchMedia', (query: string) => ({
    matches: dark && query === '(prefers-color-scheme: dark)',
    media: query,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
  }));
}

/** public/theme-init.js, the script that runs before the first paint. */
function runInitScript() {
  new Function(initScript)();
}

beforeEach(() => resetThemeForTests());
afterEach(() => vi.unstubAllGlobals());

describe('theme', () => {
  it('follows the system until the user picks', () => {
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('system', false)).toBe('light');
    expect(resolveTheme('light', true)).toBe('light');
    expect(resolveTheme('dark', false)).toBe('dark');
  });

  it('stores the choice and puts the class on <html>', () => {
    prefersDark(false);
    setThemeChoice('dark');
    expect(localStorage.getItem(THEME_KEY)).toBe('dark');
    expect(document.documentElement).toHaveClass('dark');
    setThemeChoice('system');
    expect(localStorage.getItem(THEME_KEY)).toBeNull();
    expect(document.documentElement).not.toHaveClass('dark');
    expect(readThemeChoice()).toBe('system');
  });

  it('ignores a stored value it does not know', () => {
    localStorage.setItem(THEME_KEY, 'sepia');
    expect(readThemeChoice()).toBe('system');
  });

  it.each([
    ['dark', false, true],
    ['light', true, false],
    [null, true, true],
    [null, false, false],
  ] as const)('the pre-paint script agrees with the app (stored %s, system dark %s)', (stored, systemDark, dark) => {
    prefersDark(systemDark);
    if (stored) localStorage.setItem(THEME_KEY, stored);
    runInitScript();
    expect(document.documentElement.classList.contains('dark')).toBe(dark);
    document.documentElement.className = '';
    expect(applyTheme()).toBe(dark ? 'dark' : 'light');
  });
});
