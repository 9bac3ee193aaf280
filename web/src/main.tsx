import { startTransition, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider } from 'react-router';

import { createQueryClient } from './api/queryClient';
import { AppProviders } from './AppProviders';
import './index.css';
import { prefetchStart } from './prefetch';
import { createRouter } from './router';
import { applyTheme } from './theme/theme';
import { prepareFormatters } from './ui/format';

// public/theme-init.js already did this before the first paint; this keeps the two in step.
applyTheme();

const queryClient = createQueryClient();
prefetchStart(queryClient, window.location);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');

/**
 * The app starts in two steps, each a task of its own, so that neither is a long one on a
 * phone: this script (its evaluation and the first requests, above), then the router and the
 * first render. That render is a transition: React renders it in slices and the browser stays
 * responsive meanwhile (index.html's outline is on screen until it is done).
 */
function start(container: HTMLElement) {
  const router = createRouter();
  startTransition(() =>
    createRoot(container).render(
      <StrictMode>
        <AppProviders client={queryClient}>
          <RouterProvider router={router} />
        </AppProviders>
      </StrictMode>,
    ),
  );
}
setTimeout(() => start(root), 0);

// Dates are formatted in every list; the first formatter is slow to make (see ui/format.ts), so it
// is made while the browser waits for the first answers, rather than during the page's render.
if (typeof window.requestIdleCallback === 'function') window.requestIdleCallback(prepareFormatters, { timeout: 1_000 });
else setTimeout(prepareFormatters, 0);
