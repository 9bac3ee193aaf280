import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { createMemoryRouter, RouterProvider, type RouteObject } from 'react-router';

import { AuthProvider } from '../auth/AuthProvider';
import { ToastProvider } from '../ui/ToastProvider';

/**
 * Renders `ui` at `path` inside the app's providers (a fresh query client without retries, toasts,
 * a memory router; `auth: true` adds the AuthProvider, which calls `GET /api/me`). `routes` are
 * more pages, where `ui` leads (e.g. `[{ path: '/library', element: <h1>Library</h1> }]`).
 */
export function renderWithProviders(
  ui: ReactElement,
  { path = '/', auth = false, routes = [] }: { path?: string; auth?: boolean; routes?: RouteObject[] } = {},
) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const router = createMemoryRouter([...routes, { path: '*', element: ui }], { initialEntries: [path] });
  const app = <RouterProvider router={router} />;
  const result = render(
    <QueryClientProvider client={queryClient}>
      <ToastProvider>{auth ? <AuthProvider>{app}</AuthProvider> : app}</ToastProvider>
    </QueryClientProvider>,
  );
  return { ...result, queryClient, router };
}
