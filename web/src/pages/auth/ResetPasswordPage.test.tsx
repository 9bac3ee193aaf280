import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import { apiError, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import ResetPasswordPage from './ResetPasswordPage';

async function choose(user: ReturnType<typeof userEvent.setup>, password = 'Brand new 42') {
  await user.type(await screen.findByLabelText('New password'), password);
  await user.type(screen.getByLabelText('Confirm new password'), password);
  await user.click(screen.getByRole('button', { name: 'Set new password' }));
}

describe('Password reset page', () => {
  it('sets the new password with the token from the link, then offers to sign in', async () => {
    const api = mockApi({ 'POST /api/auth/password-reset': () => null });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<ResetPasswordPage />, { path: '/reset#reset-token-9' });

    expect(await screen.findByRole('heading', { name: 'Choose a new password' })).toBeInTheDocument();
    await waitFor(() => expect(router.state.location.hash).toBe(''));
    await choose(user);

    expect(await screen.findByRole('status')).toHaveTextContent('Your new password is set.');
    expect(screen.getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', '/signin');
    expect(api.calls('POST /api/auth/password-reset')[0]?.body).toEqual({ token: 'reset-token-9', new_password: 'Brand new 42' });
  });

  it('asks for a new link when this one was used', async () => {
    mockApi({ 'POST /api/auth/password-reset': () => apiError(410, 'link_invalid', 'link is invalid') });
    const user = userEvent.setup();
    renderWithProviders(<ResetPasswordPage />, { path: '/reset#used' });
    await choose(user);
    expect(await screen.findByRole('alert')).toHaveTextContent('This reset link was used already or has expired. Ask your administrator for a new one.');
    expect(screen.queryByLabelText('New password')).not.toBeInTheDocument();
  });

  it('shows a weak password on its field', async () => {
    mockApi({ 'POST /api/auth/password-reset': () => apiError(422, 'weak_password', 'it is a common password', 'password') });
    const user = userEvent.setup();
    renderWithProviders(<ResetPasswordPage />, { path: '/reset#tok' });
    await choose(user, 'Password123');
    await waitFor(() => expect(screen.getByLabelText('New password')).toHaveAccessibleDescription(/it is a common password/));
  });

  it('without a token, sends to an administrator', async () => {
    mockApi({});
    renderWithProviders(<ResetPasswordPage />, { path: '/reset' });
    expect(await screen.findByText(/needs a password reset link/)).toBeInTheDocument();
    expect(screen.queryByLabelText('New password')).not.toBeInTheDocument();
  });
});
