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
    const api = mockApi({ 'POST /api/me/password': () => TOKENS });
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
    mockApi({
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
    mockApi({
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
    const api = mockApi({ 'POST /api/me/password': () => TOKENS });
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
    const api = mockApi({ 'POST /api/auth/logout-all': () => null });
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
});
