import { QueryClient } from '@tanstack/react-query';
import { act, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryRouter, RouterProvider } from 'react-router';

import { readSession, resetSessionForTests } from './api/session';
import { AppProviders } from './AppProviders';
import { routes } from './router';
import { apiError, jsonResponse, mockApi } from './test/api';

const ME = {
  id: 'u1',
  email: 'ada@example.com',
  display_name: 'Ada Lovelace',
  role: 'user',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  quota: { storage_bytes: 1, uploads_per_day: 1, processing_seconds_per_day: 1 },
};

const TOKENS = {
  user_id: 'u1',
  role: 'user',
  token_type: 'Bearer',
  access_token: 'a',
  expires_in: 900,
  access_token_expires_at: new Date(Date.now() + 900_000).toISOString(),
  refresh_token: 'r',
  refresh_token_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
};

function renderApp(path: string) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  render(
    <AppProviders client={queryClient}>
      <RouterProvider router={router} />
    </AppProviders>,
  );
  return router;
}

beforeEach(() => {
  resetSessionForTests();
  // The shell opens the live socket; these tests do not need one to answer.
  class QuietSocket {
    readyState = 0;
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    send() {}
    close() {}
  }
  vi.stubGlobal('WebSocket', QuietSocket);
});

describe('routing and sign-in', () => {
  it('sends a signed-out visitor to sign in, then back where they were going', async () => {
    let signedIn = false;
    mockApi({
      'GET /api/me': () => (signedIn ? ME : apiError(401, 'unauthenticated')),
      'POST /api/auth/refresh': () => apiError(401, 'unauthenticated'),
      'POST /api/auth/login': ({ body }) => {
        const { email, password } = body as { email: string; password: string };
        if (password !== 'correct horse 1') return apiError(401, 'invalid_credentials', 'wrong');
        signedIn = email === ME.email;
        return jsonResponse(200, TOKENS);
      },
      'GET /api/me/api-keys': () => ({ api_keys: [] }),
    });
    const user = userEvent.setup();
    const router = renderApp('/settings/api-keys');

    await screen.findByRole('heading', { name: 'Sign in to Tessera' });
    expect(router.state.location.pathname).toBe('/signin');
    expect(router.state.location.search).toBe(`?next=${encodeURIComponent('/settings/api-keys')}`);

    await user.type(screen.getByLabelText('Email'), ME.email);
    await user.type(screen.getByLabelText('Password'), 'wrong password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('That email and password do not match.');

    await user.clear(screen.getByLabelText('Password'));
    await user.type(screen.getByLabelText('Password'), 'correct horse 1');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    await screen.findByRole('heading', { level: 1, name: 'API keys' });
    expect(router.state.location.pathname).toBe('/settings/api-keys');
    expect(readSession()?.accessExpiresAt).toBe(Date.parse(TOKENS.access_token_expires_at));
  });

  it('keeps admin pages from other users and lists admin links only for admins', async () => {
    mockApi({ 'GET /api/me': () => ME });
    renderApp('/admin/users');
    expect(await screen.findByRole('heading', { name: 'Administrators only' })).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Users' })).not.toBeInTheDocument();
    expect(screen.getAllByRole('link', { name: 'Library' }).length).toBeGreaterThan(0);
  });

  it('shows the admin pages to admins', async () => {
    mockApi({ 'GET /api/me': () => ({ ...ME, role: 'admin' }) });
    renderApp('/admin/users');
    expect(await screen.findByRole('heading', { level: 1, name: 'Users' })).toBeInTheDocument();
    expect(screen.getAllByRole('link', { name: 'Projections' }).length).toBeGreaterThan(0);
  });

  it('opens the security page from the account menu', async () => {
    mockApi({ 'GET /api/me': () => ME, 'GET /api/me/api-keys': () => ({ api_keys: [] }) });
    const user = userEvent.setup();
    const router = renderApp('/settings/api-keys');
    await screen.findByRole('heading', { level: 1, name: 'API keys' });

    const account = screen.getAllByRole('button', { name: /Ada Lovelace/ })[0];
    if (account) await user.click(account);
    await user.click(await screen.findByRole('menuitem', { name: 'Security' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Security' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/settings/security');
  });

  it('opens the one-time link pages to signed-out visitors, without the token in the address', async () => {
    mockApi({ 'GET /api/me': () => apiError(401, 'unauthenticated'), 'POST /api/auth/refresh': () => apiError(401, 'unauthenticated') });
    const router = renderApp('/setup#tok');
    expect(await screen.findByRole('heading', { level: 1, name: 'Create the administrator' })).toBeInTheDocument();
    await waitFor(() => expect(router.state.location.hash).toBe(''));
    expect(router.state.location.pathname).toBe('/setup');
    await act(() => router.navigate('/reset#tok'));
    expect(await screen.findByRole('heading', { level: 1, name: 'Choose a new password' })).toBeInTheDocument();
    expect(screen.getByLabelText('New password')).toBeInTheDocument();
    await waitFor(() => expect(router.state.location.hash).toBe(''));
  });

  it('answers unknown addresses with a 404 page', async () => {
    mockApi({ 'GET /api/me': () => ME });
    renderApp('/no/such/page');
    expect(await screen.findByRole('heading', { level: 1, name: 'Page not found' })).toBeInTheDocument();
  });

  it('redirects / to the library', async () => {
    mockApi({ 'GET /api/me': () => ME });
    const router = renderApp('/');
    await waitFor(() => expect(router.state.location.pathname).toBe('/library'));
    expect(await screen.findByRole('heading', { level: 1, name: 'Library' })).toBeInTheDocument();
  });
});

describe('search shortcut', () => {
  it('opens the search page with the cursor in its box, or focuses the box that is there', async () => {
    mockApi({ 'GET /api/me': () => ME, 'GET /api/me/api-keys': () => ({ api_keys: [] }) });
    const user = userEvent.setup();
    const router = renderApp('/settings/api-keys');
    await screen.findByRole('heading', { level: 1, name: 'API keys' });
    expect(screen.getAllByRole('link', { name: 'Search' })[0]).toHaveAttribute('href', '/search');

    await user.keyboard('/');
    const box = await screen.findByRole('searchbox', { name: 'Search your library' });
    expect(router.state.location.pathname).toBe('/search');
    await waitFor(() => expect(box).toHaveFocus());

    // Typing in a field types, shortcut keys included.
    await user.keyboard('a/b');
    expect(box).toHaveValue('a/b');
    expect(router.state.location.pathname).toBe('/search');

    // Elsewhere, Ctrl-K (Cmd-K on a Mac) comes back to the box.
    act(() => box.blur());
    await user.keyboard('{Control>}k{/Control}');
    expect(box).toHaveFocus();
    act(() => box.blur());
    await user.keyboard('{Meta>}k{/Meta}');
    expect(box).toHaveFocus();
  });
});
