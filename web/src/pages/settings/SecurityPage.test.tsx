import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { readSession, recordTokens, resetSessionForTests } from '../../api/session';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import SecurityPage from './SecurityPage';

const TOKENS = {
  user_id: 'u1',
  role: 'user',
  token_type: 'Bearer',
  expires_in: 900,
  access_token_expires_at: '2030-01-01T00:15:00Z',
  refresh_token_expires_at: '2030-01-31T00:00:00Z',
};

interface SignIn {
  id: string;
  started_at: string;
  last_used_at: string;
  expires_at: string;
  current: boolean;
}

const MINUTE_MS = 60_000;
const ago = (minutes: number) => new Date(Date.now() - minutes * MINUTE_MS).toISOString();

const THIS_DEVICE: SignIn = {
  id: '0190a000-0000-7000-8000-0000000000c1',
  started_at: ago(3 * 24 * 60),
  last_used_at: ago(2),
  expires_at: '2030-01-31T00:00:00Z',
  current: true,
};
const PHONE: SignIn = {
  id: '0190a000-0000-7000-8000-0000000000c2',
  started_at: ago(10 * 24 * 60),
  last_used_at: ago(5 * 60),
  expires_at: '2030-01-31T00:00:00Z',
  current: false,
};
const LAPTOP: SignIn = {
  id: '0190a000-0000-7000-8000-0000000000c3',
  started_at: ago(40 * 24 * 60),
  last_used_at: ago(45),
  expires_at: '2030-01-31T00:00:00Z',
  current: false,
};

type Routes = Parameters<typeof mockApi>[0];

/** The user's sign-ins (only this device unless told), and `routes` on top. */
function server(routes: Routes = {}, signIns: SignIn[] = [THIS_DEVICE]) {
  return mockApi({ 'GET /api/me/sessions': () => ({ sessions: signIns }), ...routes });
}

beforeEach(() => {
  resetSessionForTests();
  localStorage.clear();
});

async function fillPassword(current: string, next: string, confirm = next) {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText('Current password'), current);
  await user.type(screen.getByLabelText('New password'), next);
  await user.type(screen.getByLabelText('Confirm new password'), confirm);
  await user.click(screen.getByRole('button', { name: 'Change password' }));
}

describe('Security page', () => {
  it('changes the password and keeps the new session', async () => {
    const api = server({ 'POST /api/me/password': () => TOKENS });
    renderWithProviders(<SecurityPage />);

    await fillPassword('old password 1', 'New password 2');

    expect(await screen.findByText('Password changed. You were signed out on every other device.')).toBeInTheDocument();
    expect(api.calls('POST /api/me/password')[0]?.body).toEqual({ current_password: 'old password 1', new_password: 'New password 2' });
    expect(readSession()?.accessExpiresAt).toBe(Date.parse(TOKENS.access_token_expires_at));
    expect(screen.getByLabelText('Current password')).toHaveValue('');
    expect(screen.getByLabelText('New password')).toHaveValue('');
    expect(screen.getByLabelText('Confirm new password')).toHaveValue('');
    expect(screen.getByLabelText('Current password')).toHaveAttribute('autocomplete', 'current-password');
    expect(screen.getByLabelText('New password')).toHaveAttribute('autocomplete', 'new-password');
  });

  it('shows a wrong current password on its field', async () => {
    server({
      'POST /api/me/password': () => apiError(422, 'validation_failed', 'the current password is wrong', 'current_password'),
    });
    renderWithProviders(<SecurityPage />);

    await fillPassword('not it at all', 'New password 2');

    const current = screen.getByLabelText('Current password');
    await waitFor(() => expect(current).toHaveAccessibleDescription('That is not your current password.'));
    expect(current).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('New password')).not.toHaveAttribute('aria-invalid');
  });

  it('shows a weak new password on its field and a throttle with its wait', async () => {
    let throttled = false;
    server({
      'POST /api/me/password': () =>
        throttled
          ? jsonResponse(429, { error: { code: 'login_throttled', message: 'too many' } }, { 'Retry-After': '90' })
          : apiError(422, 'weak_password', 'weak password: it must not be your email address', 'password'),
    });
    const user = userEvent.setup();
    renderWithProviders(<SecurityPage />);

    await fillPassword('old password 1', 'ada@example.com');
    const next = screen.getByLabelText('New password');
    await waitFor(() => expect(next).toHaveAccessibleDescription(/must not be your email address/));

    throttled = true;
    await user.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Too many attempts. Try again in 2 minutes.');
  });

  it('blocks a mismatched or short new password before any request', async () => {
    const api = server({ 'POST /api/me/password': () => TOKENS });
    const user = userEvent.setup();
    renderWithProviders(<SecurityPage />);

    await fillPassword('old password 1', 'New password 2', 'New password 3');
    const confirm = screen.getByLabelText('Confirm new password');
    expect(confirm).toHaveAccessibleDescription('The two new passwords do not match.');
    expect(confirm).toHaveAttribute('aria-invalid', 'true');

    await user.clear(screen.getByLabelText('New password'));
    await user.type(screen.getByLabelText('New password'), 'short');
    await user.click(screen.getByRole('button', { name: 'Change password' }));
    expect(screen.getByLabelText('New password')).toHaveAccessibleDescription(/Use at least 10 characters\./);
    expect(api.calls('POST /api/me/password')).toHaveLength(0);
  });

  it('signs out everywhere after confirming and ends the session', async () => {
    recordTokens(TOKENS);
    const api = server({ 'POST /api/auth/logout-all': () => null });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SecurityPage />, { path: '/settings/security' });

    await user.click(screen.getByRole('button', { name: 'Sign out everywhere' }));
    const dialog = await screen.findByRole('dialog', { name: 'Sign out everywhere?' });
    expect(api.calls('POST /api/auth/logout-all')).toHaveLength(0);
    await user.click(within(dialog).getByRole('button', { name: 'Sign out everywhere' }));

    await waitFor(() => expect(router.state.location.pathname).toBe('/signin'));
    expect(api.calls('POST /api/auth/logout-all')).toHaveLength(1);
    expect(localStorage.getItem('tessera.auth')).toBeNull();
  });

  it('lists the sign-ins by last use, marking this device, which has no sign-out button', async () => {
    server({}, [PHONE, THIS_DEVICE, LAPTOP]);
    renderWithProviders(<SecurityPage />);

    const list = await screen.findByRole('list', { name: 'Signed-in devices' });
    const rows = within(list).getAllByRole('listitem');
    expect(rows).toHaveLength(3);
    const [first = list] = rows;
    // Newest use first: this device (2 minutes ago), the laptop (45 minutes), the phone (5 hours).
    expect(first).toHaveTextContent('Signed in 3 days ago');
    expect(first).toHaveTextContent('Last used 2 minutes ago');
    expect(within(first).getByText('This device')).toBeInTheDocument();
    expect(within(first).queryByRole('button')).not.toBeInTheDocument();
    expect(rows[1]).toHaveTextContent('Last used 45 minutes ago');
    expect(rows[2]).toHaveTextContent('Last used 5 hours ago');
    for (const row of rows.slice(1)) {
      expect(within(row).queryByText('This device')).not.toBeInTheDocument();
      expect(within(row).getByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    }
    expect(within(list).getAllByRole('button', { name: 'Sign out' })).toHaveLength(2);
  });

  it('signs another device out after confirming, then refetches the list', async () => {
    let signIns = [THIS_DEVICE, PHONE];
    const api = mockApi({
      'GET /api/me/sessions': () => ({ sessions: signIns }),
      'DELETE /api/me/sessions/{id}': ({ params }) => {
        signIns = signIns.filter((s) => s.id !== params.id);
        return null;
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<SecurityPage />);

    const list = await screen.findByRole('list', { name: 'Signed-in devices' });
    await user.click(within(list).getByRole('button', { name: 'Sign out' }));
    const dialog = await screen.findByRole('dialog', { name: 'Sign out that device?' });
    expect(api.calls('DELETE /api/me/sessions/{id}')).toHaveLength(0);
    await user.click(within(dialog).getByRole('button', { name: 'Sign out device' }));

    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(1));
    const deletes = api.calls('DELETE /api/me/sessions/{id}');
    expect(deletes).toHaveLength(1);
    expect(new URL(deletes[0]?.request.url ?? '').pathname).toBe(`/api/me/sessions/${PHONE.id}`);
    expect(api.calls('GET /api/me/sessions')).toHaveLength(2);
    expect(within(list).getByText('This device')).toBeInTheDocument();
    expect(within(list).queryByRole('button', { name: 'Sign out' })).not.toBeInTheDocument();
    expect(await screen.findByText('Device signed out')).toBeInTheDocument();
  });

  it('shows when there are no sign-ins, and when they could not be loaded', async () => {
    server({}, []);
    const { unmount } = renderWithProviders(<SecurityPage />);
    expect(await screen.findByText('No signed-in devices')).toBeInTheDocument();
    unmount();

    mockApi({ 'GET /api/me/sessions': () => apiError(500, 'internal', 'boom') });
    renderWithProviders(<SecurityPage />);
    const heading = await screen.findByRole('heading', { name: 'Could not load your signed-in devices' });
    expect(heading.closest('[role="alert"]')).toHaveTextContent('boom');
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });
});
