import type { ComponentType } from 'react';
import { createBrowserRouter, Navigate, type RouteObject } from 'react-router';

import { RedirectIfSignedIn, RequireAdmin, RequireAuth } from './auth/guards';
import { AppShell } from './shell/AppShell';
import { RouteError } from './shell/RouteError';
import { ShellSkeleton } from './shell/ShellSkeleton';

/**
 * A lazily loaded page: its module's default export is the page component. Every page is one,
 * so the first load only carries the shell.
 */
function page(load: () => Promise<{ default: ComponentType }>): RouteObject['lazy'] {
  return async () => ({ Component: (await load()).default });
}

export const routes: RouteObject[] = [
  {
    errorElement: <RouteError />,
    hydrateFallbackElement: <ShellSkeleton />,
    children: [
      {
        element: <RedirectIfSignedIn />,
        children: [
          { path: 'signin', lazy: page(() => import('./pages/auth/SignInPage')) },
          { path: 'signup', lazy: page(() => import('./pages/auth/SignUpPage')) },
        ],
      },
      // One-time links (`#<token>`), open whoever is signed in: each page sees to its own outcome.
      { path: 'setup', lazy: page(() => import('./pages/auth/SetupPage')) },
      { path: 'reset', lazy: page(() => import('./pages/auth/ResetPasswordPage')) },
      {
        element: (
          <RequireAuth fallback={<ShellSkeleton />}>
            <AppShell />
          </RequireAuth>
        ),
        children: [
          { index: true, element: <Navigate to="/library" replace /> },
          { path: 'library', lazy: page(() => import('./pages/library/LibraryPage')) },
          { path: 'search', lazy: page(() => import('./pages/search/SearchPage')) },
          { path: 'content/:id', lazy: page(() => import('./pages/content/ContentPage')) },
          { path: 'chat', lazy: page(() => import('./pages/chat/ChatPage')) },
          { path: 'chat/:id', lazy: page(() => import('./pages/chat/ChatPage')) },
          { path: 'create', lazy: page(() => import('./pages/create/CreatePage')) },
          { path: 'usage', lazy: page(() => import('./pages/usage/UsagePage')) },
          { path: 'settings/api-keys', lazy: page(() => import('./pages/settings/ApiKeysPage')) },
          { path: 'settings/security', lazy: page(() => import('./pages/settings/SecurityPage')) },
          {
            path: 'admin',
            element: <RequireAdmin />,
            children: [
              { index: true, element: <Navigate to="/admin/users" replace /> },
              { path: 'users', lazy: page(() => import('./pages/admin/UsersPage')) },
              { path: 'models', lazy: page(() => import('./pages/admin/ModelsPage')) },
              { path: 'jobs', lazy: page(() => import('./pages/admin/JobsPage')) },
              { path: 'projections', lazy: page(() => import('./pages/admin/ProjectionsPage')) },
            ],
          },
          { path: '*', lazy: page(() => import('./pages/NotFoundPage')) },
        ],
      },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes);
}
