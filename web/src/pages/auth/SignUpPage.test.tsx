import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { readSession, resetSessionForTests } from '../../api/session';
import { RedirectIfSignedIn } from '../../auth/guards';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import SignUpPage from './SignUpPage';

const ME = {
  id: '0190a000-0000-7000-8000-0000000000cc',
  email: 'cleo@example.com',
  display_name: 'Cleo',
  role: 'user',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  quota: { storage_bytes: 1, uploads_per_day: 1, processing_seconds_per_day: 1 },
};
const EXPIRES = new Date(Date.now() + 900_000).toISOString();
const TOKENS = {
  user_id: ME.id,
  role: 'user',
  token_type: 'Bearer',
  expires_in: 900,
  access_token_expires_at: EXPIRES,
  refresh_token_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
};

/** The server, whose `register` answers with `answer`; `GET /api/me` knows the user once tokens were issued. */
function server(answer: () => Response) {
  let signedIn = false;
  return mockApi({
    'GET /api/me': () => (signedIn ? ME : apiError(401, 'unauthenticated')),
    'POST /api/auth/refresh': () => apiError(401, 'unauthenticated'),
    'POST /api/auth/register': () => {
      const res = answer();
      signedIn = res.status === 201;
      return res;
    },
  });
}

/** The sign-up page behind its guard (as in the app), and the library it goes on to. */
function renderSignUp(path = '/signup') {
  return renderWithProviders(
    <RedirectIfSignedIn>
      <SignUpPage />
    </RedirectIfSignedIn>,
    { path, auth: true, routes: [{ path: '/library', element: <h1>Library</h1> }, { path: '/chat', element: <h1>Chat</h1> }] },
  );
}

async function fillIn(user: ReturnType<typeof userEvent.setup>) {
  await user.type(await screen.findByLabelText('Name'), ' Cleo ');
  await user.type(screen.getByLabelText('Email'), ' cleo@example.com ');
  await user.type(screen.getByLabelText('Password'), 'Correct horse 1');
  await user.click(screen.getByRole('button', { name: 'Create account' }));
}

beforeEach(() => resetSessionForTests());

describe('Sign-up page', () => {
  it('signs in and goes to the library when the server lets the account in at once (201)', async () => {
    const api = server(() => jsonResponse(201, TOKENS));
    const user = userEvent.setup();
    const { router } = renderSignUp();
    expect(await screen.findByRole('heading', { name: 'Create your account' })).toBeInTheDocument();
    await fillIn(user);

    expect(await screen.findByRole('heading', { name: 'Library' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/library');
    expect(api.calls('POST /api/auth/register')[0]?.body).toEqual({ email: 'cleo@example.com', display_name: 'Cleo', password: 'Correct horse 1' });
    expect(readSession()?.accessExpiresAt).toBe(Date.parse(EXPIRES));
  });

  it('says the request was received, without signing in, when an administrator approves sign-ups (202)', async () => {
    const api = server(() => jsonResponse(202, { status: 'awaiting_approval' }));
    const user = userEvent.setup();
    const { router } = renderSignUp(`/signup?next=${encodeURIComponent('/chat')}`);
    await fillIn(user);

    expect(await screen.findByRole('heading', { level: 1, name: 'Request received' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Once the request is approved, sign in with the email and password you entered.');
    // Nothing is said about the address (the answer is the same whether or not it had an account).
    expect(document.body).not.toHaveTextContent(/account (was )?created|already/i);
    expect(screen.getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', `/signin?next=${encodeURIComponent('/chat')}`);
    expect(screen.queryByRole('button', { name: 'Create account' })).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Password')).not.toBeInTheDocument();

    // Not signed in: no session, no second look at who is signed in, still on the sign-up page.
    expect(readSession()).toBeNull();
    expect(api.calls('GET /api/me')).toHaveLength(1);
    expect(router.state.location.pathname).toBe('/signup');
  });

  it('puts the server’s field errors on their fields', async () => {
    server(() => apiError(409, 'email_taken', 'email is taken'));
    const user = userEvent.setup();
    renderSignUp();
    await fillIn(user);
    await waitFor(() => expect(screen.getByLabelText('Email')).toHaveAccessibleDescription('An account with this email already exists.'));
    expect(screen.getByRole('button', { name: 'Create account' })).toBeEnabled();
  });
});
