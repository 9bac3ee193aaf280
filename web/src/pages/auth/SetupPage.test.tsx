import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { readSession, resetSessionForTests } from '../../api/session';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import SetupPage from './SetupPage';

const ADMIN = {
  id: '0190a000-0000-7000-8000-0000000000aa',
  email: 'ada@example.com',
  display_name: 'Ada Lovelace',
  role: 'admin',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  quota: { storage_bytes: 1, uploads_per_day: 1, processing_seconds_per_day: 1 },
};
const EXPIRES = new Date(Date.now() + 900_000).toISOString();
const TOKENS = {
  user_id: ADMIN.id,
  role: 'admin',
  token_type: 'Bearer',
  expires_in: 900,
  access_token_expires_at: EXPIRES,
  refresh_token_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
};

function server(setup: () => Response) {
  let signedIn = false;
  return mockApi({
    'GET /api/me': () => (signedIn ? ADMIN : apiError(401, 'unauthenticated')),
    'POST /api/auth/refresh': () => apiError(401, 'unauthenticated'),
    'POST /api/auth/setup': () => {
      const res = setup();
      signedIn = res.ok;
      return res;
    },
  });
}

async function fillIn(user: ReturnType<typeof userEvent.setup>) {
  await user.type(await screen.findByLabelText('Email'), ' ada@example.com ');
  await user.type(screen.getByLabelText('Display name'), 'Ada Lovelace');
  await user.type(screen.getByLabelText('Password'), 'Correct horse 1');
  await user.type(screen.getByLabelText('Confirm password'), 'Correct horse 1');
  await user.click(screen.getByRole('button', { name: 'Create administrator' }));
}

beforeEach(() => resetSessionForTests());

describe('Setup page', () => {
  it('creates the administrator with the token, hides it from the address bar and signs in', async () => {
    const api = server(() => jsonResponse(201, TOKENS));
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SetupPage />, { path: '/setup#setup-token-123', auth: true });

    expect(await screen.findByRole('heading', { name: 'Create the administrator' })).toBeInTheDocument();
    await waitFor(() => expect(router.state.location.hash).toBe(''));
    expect(router.state.location.pathname).toBe('/setup');

    // A typo in the repetition is caught before anything is sent.
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Display name'), 'Ada');
    await user.type(screen.getByLabelText('Password'), 'Correct horse 1');
    await user.type(screen.getByLabelText('Confirm password'), 'Correct horse 2');
    await user.click(screen.getByRole('button', { name: 'Create administrator' }));
    expect(screen.getByLabelText('Confirm password')).toHaveAccessibleDescription('The two passwords do not match.');
    expect(api.calls('POST /api/auth/setup')).toHaveLength(0);

    for (const label of ['Email', 'Display name', 'Password', 'Confirm password']) await user.clear(screen.getByLabelText(label));
    await fillIn(user);

    await waitFor(() => expect(router.state.location.pathname).toBe('/'));
    expect(api.calls('POST /api/auth/setup')[0]?.body).toEqual({
      token: 'setup-token-123',
      email: 'ada@example.com',
      password: 'Correct horse 1',
      display_name: 'Ada Lovelace',
    });
    expect(readSession()?.accessExpiresAt).toBe(Date.parse(EXPIRES));
  });

  it('says when the link was used already', async () => {
    server(() => apiError(410, 'link_invalid', 'link is invalid'));
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SetupPage />, { path: '/setup#old', auth: true });
    await fillIn(user);
    expect(await screen.findByRole('alert')).toHaveTextContent('This setup link was used already or has expired. Restart Tessera to print a new one.');
    expect(screen.queryByRole('button', { name: 'Create administrator' })).not.toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/setup');
    expect(readSession()).toBeNull();
  });

  it('sends to sign in when an administrator exists', async () => {
    server(() => apiError(409, 'setup_done', 'setup is done'));
    const user = userEvent.setup();
    renderWithProviders(<SetupPage />, { path: '/setup#tok', auth: true });
    await fillIn(user);
    expect(await screen.findByRole('alert')).toHaveTextContent('Tessera already has an administrator');
    expect(screen.getByRole('link', { name: 'Go to sign in' })).toHaveAttribute('href', '/signin');
  });

  it('puts the server’s field errors on their fields', async () => {
    server(() => apiError(422, 'weak_password', 'it must not be your email address'));
    const user = userEvent.setup();
    renderWithProviders(<SetupPage />, { path: '/setup#tok', auth: true });
    await fillIn(user);
    await waitFor(() => expect(screen.getByLabelText('Password')).toHaveAccessibleDescription(/it must not be your email address/));
  });

  it('without a token, says where the link comes from', async () => {
    const api = server(() => jsonResponse(201, TOKENS));
    renderWithProviders(<SetupPage />, { path: '/setup', auth: true });
    expect(await screen.findByText(/in the terminal that ran/)).toHaveTextContent('tessera serve');
    expect(screen.queryByLabelText('Email')).not.toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Go to sign in' })).toHaveAttribute('href', '/signin');
    expect(api.calls('POST /api/auth/setup')).toHaveLength(0);
  });
});
