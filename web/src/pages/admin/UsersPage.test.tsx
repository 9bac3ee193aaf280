import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import UsersPage from './UsersPage';

const ADMIN = {
  id: '0190a000-0000-7000-8000-0000000000aa',
  email: 'admin@example.com',
  display_name: 'Ada Admin',
  role: 'admin',
  disabled: false,
  pending: false,
  created_at: '2026-01-01T10:00:00Z',
  updated_at: '2026-01-01T10:00:00Z',
};
const BOB = { ...ADMIN, id: '0190a000-0000-7000-8000-0000000000bb', email: 'bob@example.com', display_name: 'Bob', role: 'user' };
/** A sign-up waiting for approval (last in the server's order). */
const CLEO = { ...BOB, id: '0190a000-0000-7000-8000-0000000000cc', email: 'cleo@example.com', display_name: 'Cleo', pending: true };
const GB = 1024 ** 3;

function server(overrides: Record<string, Parameters<typeof mockApi>[0][string]> = {}, accounts = [ADMIN, BOB]) {
  const users = accounts.map((u) => ({ ...u }));
  return mockApi({
    'GET /api/me': () => ({ ...ADMIN, quota: { storage_bytes: GB, uploads_per_day: 10, processing_seconds_per_day: 600 } }),
    'GET /api/admin/users': () => ({ users, next_after: null }),
    'GET /api/admin/usage': () => ({
      users: [{ user_id: BOB.id, stored_bytes: 2 * GB, items: 3 }],
      days: [{ user_id: BOB.id, day: '2026-03-10', modality: 'image', uploads: 4, bytes_uploaded: 0, bytes_released: 0, processing_seconds: 0, tokens_in: 0, tokens_out: 0, audio_seconds: 0, generations: 0 }],
    }),
    'GET /api/usage': () => ({
      user_id: BOB.id,
      stored_bytes: 2 * GB,
      items: 3,
      limits: { storage_bytes: 5 * GB, uploads_per_day: 100, processing_seconds_per_day: 3600 },
      today: { day: '2026-03-10', uploads: 4, processing_seconds: 0, tokens: 0, audio_seconds: 0 },
      days: [],
    }),
    'POST /api/admin/users/{id}/disable': ({ params }) => {
      const u = users.find((x) => x.id === params.id);
      if (u) u.disabled = true;
      return null;
    },
    'POST /api/admin/users/{id}/approve': ({ params }) => {
      const u = users.find((x) => x.id === params.id);
      if (u) u.pending = false;
      return null;
    },
    'PUT /api/admin/users/{id}/quota': () => null,
    ...overrides,
  });
}

async function rowOf(email: string) {
  return (await screen.findByText(email)).closest('tr') as HTMLElement;
}

async function bobRow() {
  return rowOf('bob@example.com');
}

beforeEach(() => resetSessionForTests());

describe('Admin users page', () => {
  it('lists users with their role, status and usage, and marks the admin themself', async () => {
    server();
    renderWithProviders(<UsersPage />, { auth: true });
    const row = await bobRow();
    expect(within(row).getByRole('combobox', { name: 'Role of bob@example.com' })).toHaveValue('user');
    expect(within(row).getByText('Active')).toBeInTheDocument();
    expect(await within(row).findByText(/2\.0 GB/)).toBeInTheDocument();
    expect(within(row).getByText('4 uploads today')).toBeInTheDocument();
    const me = screen.getByText('admin@example.com').closest('tr') as HTMLElement;
    expect(within(me).getByText('You')).toBeInTheDocument();
    expect(within(me).getByRole('button', { name: 'Disable admin@example.com' })).toBeDisabled();
  });

  it('edits a quota: starts from the current limits, validates, sends the numbers', async () => {
    const api = server();
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(within(await bobRow()).getByRole('button', { name: /quota/i }));

    const dialog = await screen.findByRole('dialog', { name: 'Quota for Bob' });
    const uploads = await within(dialog).findByLabelText(/uploads per day/i);
    expect(uploads).toHaveValue('100');
    expect(within(dialog).getByLabelText('Storage')).toHaveValue('5');
    expect(within(dialog).getByLabelText('Storage unit')).toHaveValue('GB');

    await user.clear(uploads);
    await user.type(uploads, '1.5');
    await user.click(within(dialog).getByRole('button', { name: /^save/i }));
    expect(uploads).toHaveAttribute('aria-invalid', 'true');
    expect(uploads).toHaveAccessibleDescription('Enter a whole number of 0 or more.');
    expect(api.calls('PUT /api/admin/users/{id}/quota')).toHaveLength(0);

    await user.clear(uploads);
    await user.type(uploads, '3');
    await user.clear(within(dialog).getByLabelText(/processing seconds per day/i));
    await user.click(within(dialog).getByRole('button', { name: /^save/i }));

    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    const [put] = api.calls('PUT /api/admin/users/{id}/quota');
    expect(put?.request.url).toContain(BOB.id);
    // Untouched storage goes back byte-exact; the emptied field reverts to the default.
    expect(put?.body).toEqual({ storage_bytes: 5 * GB, uploads_per_day: 3 });
    expect(await screen.findByText('Quota saved')).toBeInTheDocument();
  });

  it('shows the server’s field error in the quota form', async () => {
    server({ 'PUT /api/admin/users/{id}/quota': () => apiError(422, 'validation_failed', 'must be at most 1000000', 'uploads_per_day') });
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(within(await bobRow()).getByRole('button', { name: /quota/i }));
    const dialog = await screen.findByRole('dialog');
    await within(dialog).findByLabelText(/uploads per day/i);
    await user.click(within(dialog).getByRole('button', { name: /^save/i }));
    await waitFor(() => expect(within(dialog).getByLabelText(/uploads per day/i)).toHaveAccessibleDescription('must be at most 1000000'));
  });

  it('disables a user only after confirmation', async () => {
    const api = server();
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(within(await bobRow()).getByRole('button', { name: 'Disable bob@example.com' }));
    const confirm = await screen.findByRole('dialog', { name: 'Disable Bob?' });
    expect(api.calls('POST /api/admin/users/{id}/disable')).toHaveLength(0);
    await user.click(within(confirm).getByRole('button', { name: 'Disable account' }));
    await waitFor(() => expect(api.calls('POST /api/admin/users/{id}/disable')).toHaveLength(1));
    expect(await within(await bobRow()).findByText('Disabled')).toBeInTheDocument();
    expect(within(await bobRow()).getByRole('button', { name: 'Enable bob@example.com' })).toBeInTheDocument();
  });

  it('explains the last-admin refusal in plain words', async () => {
    const api = server({ 'PUT /api/admin/users/{id}/role': () => apiError(409, 'last_admin', 'you are the last admin') });
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await screen.findByText('admin@example.com');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Role of admin@example.com' }), 'user');
    const confirm = await screen.findByRole('dialog', { name: 'Remove your admin rights?' });
    await user.click(within(confirm).getByRole('button', { name: 'Remove admin rights' }));
    expect(await screen.findByText('You are the last administrator. Make someone else an admin first.')).toBeInTheDocument();
    expect(api.calls('PUT /api/admin/users/{id}/role')[0]?.body).toEqual({ role: 'user' });
    expect(screen.getByRole('combobox', { name: 'Role of admin@example.com' })).toHaveValue('admin');
  });

  it('issues a password reset link and shows it once, with its expiry', async () => {
    const url = 'https://tessera.example/reset#reset-token-1';
    const api = server({ 'POST /api/admin/users/{id}/reset-link': () => jsonResponse(201, { url, expires_at: '2026-03-11T10:00:00Z' }) });
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(within(await bobRow()).getByRole('button', { name: 'Password reset link for bob@example.com' }));

    const dialog = await screen.findByRole('dialog', { name: 'Password reset link for Bob' });
    expect(api.calls('POST /api/admin/users/{id}/reset-link')[0]?.request.url).toContain(BOB.id);
    expect(within(dialog).getByLabelText('Reset link')).toHaveValue(url);
    expect(within(dialog).getByText(/Works once, until/)).toHaveTextContent('signs them out everywhere');
    expect(dialog).toHaveAccessibleDescription(/Hand it to them yourself/);

    await user.click(within(dialog).getByRole('button', { name: 'Copy' }));
    expect(await navigator.clipboard.readText()).toBe(url);

    await user.click(within(dialog).getByRole('button', { name: 'Done' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('lists sign-ups waiting for approval first, marked and counted, with Approve and Decline', async () => {
    server({}, [ADMIN, BOB, CLEO]);
    renderWithProviders(<UsersPage />, { auth: true });
    const row = await rowOf('cleo@example.com');
    expect(within(row).getByText('Pending approval')).toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Approve cleo@example.com' })).toBeEnabled();
    expect(within(row).getByRole('button', { name: 'Decline cleo@example.com' })).toHaveAccessibleDescription('Declining disables the account');
    // First in the table (after the header row), whatever the server's order.
    expect(screen.getAllByRole('row')[1]).toBe(row);
    expect(screen.getByText('1 sign-up waiting for approval')).toBeInTheDocument();
    expect(screen.getByText(/Decline disables the account/)).toBeInTheDocument();

    for (const email of ['bob@example.com', 'admin@example.com']) {
      const other = await rowOf(email);
      expect(within(other).queryByRole('button', { name: /^Approve/ })).not.toBeInTheDocument();
      expect(within(other).queryByText('Pending approval')).not.toBeInTheDocument();
      expect(within(other).getByRole('button', { name: `Disable ${email}` })).toBeInTheDocument();
    }
  });

  it('approves a sign-up at once, refetches and says so', async () => {
    const api = server({}, [ADMIN, BOB, CLEO]);
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(within(await rowOf('cleo@example.com')).getByRole('button', { name: 'Approve cleo@example.com' }));

    await waitFor(() => expect(api.calls('POST /api/admin/users/{id}/approve')).toHaveLength(1));
    expect(api.calls('POST /api/admin/users/{id}/approve')[0]?.request.url).toContain(`/api/admin/users/${CLEO.id}/approve`);
    expect(await screen.findByText('Cleo is approved and can sign in')).toBeInTheDocument();
    await waitFor(() => expect(api.calls('GET /api/admin/users').length).toBeGreaterThan(1));
    const row = await rowOf('cleo@example.com');
    await waitFor(() => expect(within(row).getByText('Active')).toBeInTheDocument());
    expect(within(row).queryByRole('button', { name: 'Approve cleo@example.com' })).not.toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Disable cleo@example.com' })).toBeInTheDocument();
    expect(screen.queryByText(/waiting for approval/)).not.toBeInTheDocument();
  });

  it('declines a sign-up by disabling it, after confirmation', async () => {
    const api = server({}, [ADMIN, BOB, CLEO]);
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(within(await rowOf('cleo@example.com')).getByRole('button', { name: 'Decline cleo@example.com' }));
    const confirm = await screen.findByRole('dialog', { name: 'Decline Cleo’s sign-up?' });
    expect(confirm).toHaveTextContent('Declining disables the account: cleo@example.com cannot sign in.');
    await user.click(within(confirm).getByRole('button', { name: 'Decline sign-up' }));

    await waitFor(() => expect(api.calls('POST /api/admin/users/{id}/disable')).toHaveLength(1));
    expect(api.calls('POST /api/admin/users/{id}/approve')).toHaveLength(0);
    expect(await screen.findByText('Cleo’s sign-up is declined')).toBeInTheDocument();
    const row = await rowOf('cleo@example.com');
    await waitFor(() => expect(within(row).getByText('Declined')).toBeInTheDocument());
    expect(within(row).getByRole('button', { name: 'Enable cleo@example.com' })).toBeInTheDocument();
    expect(within(row).queryByRole('button', { name: 'Approve cleo@example.com' })).not.toBeInTheDocument();
  });

  it('pages through users', async () => {
    const api = server({
      'GET /api/admin/users': ({ request }) =>
        new URL(request.url).searchParams.get('after') ? { users: [BOB], next_after: null } : jsonResponse(200, { users: [ADMIN], next_after: ADMIN.id }),
    });
    const user = userEvent.setup();
    renderWithProviders(<UsersPage />, { auth: true });
    await user.click(await screen.findByRole('button', { name: 'Load more users' }));
    expect(await screen.findByText('bob@example.com')).toBeInTheDocument();
    expect(new URL(api.calls('GET /api/admin/users')[1]?.request.url ?? '').searchParams.get('after')).toBe(ADMIN.id);
    expect(screen.queryByRole('button', { name: 'Load more users' })).not.toBeInTheDocument();
  });
});
