import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

// Lazy pages load through dynamic imports, which take longer than the 1 s default on a busy
// machine; a wait still fails, only later, when what it waits for never comes.
configure({ asyncUtilTimeout: 5_000 });

// jsdom has no layout: scrolling is a no-op rather than a "not implemented" warning.
window.scrollTo = () => undefined;

afterEach(() => {
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
  document.documentElement.className = '';
});
