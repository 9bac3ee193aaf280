import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import ApiKeysPage from './ApiKeysPage';

const DAY_MS = 86_400_000;

const ME = {
  id: '0190a000-0000-7000-8000-0000000000aa',
  email: 'ada@example.com',
  display_name: 'Ada Lovelace',
  role: 'user',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  quota: { storage_bytes: 1, uploads_per_day: 1, processing_seconds_per_day: 1 },
};

interface Key {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  scopes: string[];
  expires_at: string | null;
}

const KEY: Key = {
  id: '0190a000-0000-7000-8000-000000000001',
  name: 'CI uploader',
  prefix: 'tsk_ab12',
  created_at: '2026-01-01T10:00:00Z',
  last_used_at: null,
  revoked_at: null,
  scopes: ['read', 'write'],
  expires_at: null,
};

type Routes = Parameters<typeof mockApi>[0];

/** The signed-in user (`role`), their keys, and `routes` on top. */
function server({ role = 'user', keys = [], routes = {} }: { role?: 'user' | 'admin'; keys?: Key[]; routes?: Routes } = {}) {
  return mockApi({
    'GET /api/me': () => ({ ...ME, role }),
    'GET /api/me/api-keys': () => ({ api_keys: keys }),
    ...routes,
  });
}

/** A server that creates keys as asked (the secret is always `tsk_ab12_SECRET`). */
function creatingServer(role: 'user' | 'admin' = 'user') {
  const keys: Key[] = [];
  return server({
    role,
    keys,
    routes: {
      'POST /api/me/api-keys': ({ body }) => {
        const b = body as { name: string; scopes?: string[]; expires_at?: string };
        const key = { ...KEY, name: b.name, scopes: b.scopes ?? ['read', 'write'], expires_at: b.expires_at ?? null };
        keys.unshift(key);
        return jsonResponse(201, { ...key, key: 'tsk_ab12_SECRET' });
      },
    },
  });
}

async function openCreateDialog(user: ReturnType<typeof userEvent.setup>) {
  await user.click(await screen.findByRole('button', { name: 'Create key' }));
  return screen.findByRole('dialog', { name: 'Create an API key' });
}

beforeEach(() => resetSessionForTests());

describe('API keys page', () => {
  it('creates a key with the default scopes and no expiry, and shows its secret once', async () => {
    const api = creatingServer();
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });

    const dialog = await openCreateDialog(user);
    expect(within(dialog).getByRole('checkbox', { name: 'Read' })).toBeChecked();
    expect(within(dialog).getByRole('checkbox', { name: 'Write' })).toBeChecked();
    expect(within(dialog).getByRole('checkbox', { name: 'Manage API keys' })).not.toBeChecked();
    expect(within(dialog).getByRole('checkbox', { name: 'Write' })).toHaveAccessibleDescription(/OpenAI-compatible/);
    expect(within(dialog).getByLabelText('Expiry')).toHaveValue('never');
    await user.type(within(dialog).getByLabelText('Name'), '  Nightly backup ');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));

    const shown = await screen.findByRole('dialog', { name: 'Copy your new key' });
    expect(within(shown).getByDisplayValue('tsk_ab12_SECRET')).toBeInTheDocument();
    expect(api.calls('POST /api/me/api-keys')[0]?.body).toEqual({ name: 'Nightly backup', scopes: ['read', 'write'] });
    const scopes = within(shown).getByRole('list', { name: 'Scopes' });
    expect(within(scopes).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['Read', 'Write']);
    expect(within(shown).getByText('Never expires')).toBeInTheDocument();

    await user.click(within(shown).getByRole('button', { name: 'Copy' }));
    expect(await navigator.clipboard.readText()).toBe('tsk_ab12_SECRET');
    expect(within(shown).getByRole('button', { name: 'Copied' })).toBeInTheDocument();

    await user.click(within(shown).getByRole('button', { name: 'Done' }));
    expect(screen.queryByDisplayValue('tsk_ab12_SECRET')).not.toBeInTheDocument();
    expect(await screen.findByRole('cell', { name: 'Nightly backup' })).toBeInTheDocument();
  });

  it('sends the chosen scopes and an expiry counted from the moment of creation', async () => {
    const api = creatingServer();
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });

    const dialog = await openCreateDialog(user);
    await user.type(within(dialog).getByLabelText('Name'), 'Key manager');
    await user.click(within(dialog).getByRole('checkbox', { name: 'Write' }));
    await user.click(within(dialog).getByRole('checkbox', { name: 'Manage API keys' }));
    await user.selectOptions(within(dialog).getByLabelText('Expiry'), '30 days');
    const before = Date.now();
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));

    const shown = await screen.findByRole('dialog', { name: 'Copy your new key' });
    const body = api.calls('POST /api/me/api-keys')[0]?.body as { name: string; scopes: string[]; expires_at: string };
    expect(body.name).toBe('Key manager');
    expect(body.scopes).toEqual(['read', 'keys']);
    const expires = Date.parse(body.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * DAY_MS);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * DAY_MS);

    const scopes = within(shown).getByRole('list', { name: 'Scopes' });
    expect(within(scopes).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['Read', 'Manage API keys']);
    expect(within(shown).getByText(/^Expires/)).toHaveTextContent(/Expires in 30 days/);
  });

  it('needs at least one scope', async () => {
    const api = creatingServer();
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });

    const dialog = await openCreateDialog(user);
    await user.type(within(dialog).getByLabelText('Name'), 'Nothing');
    await user.click(within(dialog).getByRole('checkbox', { name: 'Read' }));
    await user.click(within(dialog).getByRole('checkbox', { name: 'Write' }));
    expect(within(dialog).getByRole('group', { name: 'Scopes' })).toHaveAccessibleDescription('Choose at least one scope.');
    expect(within(dialog).getByRole('button', { name: 'Create key' })).toBeDisabled();
    expect(api.calls('POST /api/me/api-keys')).toHaveLength(0);
  });

  it('offers the Admin scope to admins only, unchecked', async () => {
    server();
    const user = userEvent.setup();
    const { unmount } = renderWithProviders(<ApiKeysPage />, { auth: true });
    let dialog = await openCreateDialog(user);
    expect(within(dialog).getByRole('checkbox', { name: 'Manage API keys' })).toBeInTheDocument();
    expect(within(dialog).queryByRole('checkbox', { name: 'Admin' })).not.toBeInTheDocument();
    unmount();

    const api = creatingServer('admin');
    renderWithProviders(<ApiKeysPage />, { auth: true });
    dialog = await openCreateDialog(user);
    const admin = await within(dialog).findByRole('checkbox', { name: 'Admin' });
    expect(admin).not.toBeChecked();
    await user.type(within(dialog).getByLabelText('Name'), 'Ops');
    await user.click(admin);
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    await screen.findByRole('dialog', { name: 'Copy your new key' });
    expect(api.calls('POST /api/me/api-keys')[0]?.body).toEqual({ name: 'Ops', scopes: ['read', 'write', 'admin'] });
  });

  it('lists each key with its scopes and expiry, and marks an expired key', async () => {
    const now = Date.now();
    server({
      keys: [
        { ...KEY, id: 'k1', name: 'Soon', scopes: ['read'], expires_at: new Date(now + 29 * DAY_MS + 3_600_000).toISOString() },
        { ...KEY, id: 'k2', name: 'Old', scopes: ['read', 'write', 'keys'], expires_at: new Date(now - 2 * DAY_MS).toISOString() },
        { ...KEY, id: 'k3', name: 'Forever' },
      ],
    });
    renderWithProviders(<ApiKeysPage />, { auth: true });

    const row = async (name: string) => (await screen.findByRole('cell', { name })).closest('tr') as HTMLElement;
    const badges = (tr: HTMLElement) => within(within(tr).getByRole('list', { name: 'Scopes' })).getAllByRole('listitem').map((li) => li.textContent);

    const soon = await row('Soon');
    expect(badges(soon)).toEqual(['Read']);
    expect(within(soon).getByText(/^Expires/)).toHaveTextContent('Expires in 29 days');
    expect(within(soon).getByText('Active')).toBeInTheDocument();

    const old = await row('Old');
    expect(badges(old)).toEqual(['Read', 'Write', 'Manage API keys']);
    // Its expiry says when, and its status says it no longer works.
    const [expiry, status] = within(old).getAllByText('Expired');
    expect(expiry).toHaveTextContent('Expired 2 days ago');
    expect(status).toHaveTextContent(/^Expired$/);
    expect(within(old).queryByText('Active')).not.toBeInTheDocument();

    const forever = await row('Forever');
    expect(badges(forever)).toEqual(['Read', 'Write']);
    expect(within(forever).getByText('Never expires')).toBeInTheDocument();
  });

  it('says so, above the form, when the user has as many keys as allowed', async () => {
    server({ routes: { 'POST /api/me/api-keys': () => apiError(409, 'too_many_api_keys', 'at most 10 API keys') } });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });
    const dialog = await openCreateDialog(user);
    await user.type(within(dialog).getByLabelText('Name'), 'One more');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent(/as many API keys as this server allows.*Revoke one/);
  });

  it('shows the server validation message on the name field', async () => {
    server({ routes: { 'POST /api/me/api-keys': () => apiError(422, 'validation_failed', 'must not contain control characters', 'name') } });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });
    const dialog = await openCreateDialog(user);
    await user.type(within(dialog).getByLabelText('Name'), 'x');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    const input = within(dialog).getByLabelText('Name');
    await waitFor(() => expect(input).toHaveAccessibleDescription(/must not contain control characters/));
    expect(input).toHaveAttribute('aria-invalid', 'true');
  });

  it('shows scope and expiry refusals on their fields', async () => {
    let reply = apiError(422, 'validation_failed', 'must be in the future', 'expires_at');
    server({ role: 'admin', routes: { 'POST /api/me/api-keys': () => reply } });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });
    const dialog = await openCreateDialog(user);
    await user.type(within(dialog).getByLabelText('Name'), 'x');
    await user.selectOptions(within(dialog).getByLabelText('Expiry'), '1 year');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    const expiry = within(dialog).getByLabelText('Expiry');
    await waitFor(() => expect(expiry).toHaveAccessibleDescription(/must be in the future/));
    expect(expiry).toHaveAttribute('aria-invalid', 'true');

    // The server no longer takes this user for an admin.
    reply = apiError(403, 'forbidden', 'forbidden');
    await user.click(await within(dialog).findByRole('checkbox', { name: 'Admin' }));
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    await waitFor(() =>
      expect(within(dialog).getByRole('group', { name: 'Scopes' })).toHaveAccessibleDescription('Only administrators can give a key the Admin scope.'),
    );
  });

  it('revokes a key after confirmation', async () => {
    let revoked = false;
    const api = server({
      routes: {
        'GET /api/me/api-keys': () => ({ api_keys: [{ ...KEY, revoked_at: revoked ? '2026-01-02T00:00:00Z' : null }] }),
        'DELETE /api/me/api-keys/{id}': () => {
          revoked = true;
          return null;
        },
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />, { auth: true });

    await user.click(await screen.findByRole('button', { name: 'Revoke CI uploader' }));
    const confirm = await screen.findByRole('dialog', { name: 'Revoke “CI uploader”?' });
    await user.click(within(confirm).getByRole('button', { name: 'Revoke key' }));

    await waitFor(() => expect(api.calls('DELETE /api/me/api-keys/{id}')).toHaveLength(1));
    expect(api.calls('DELETE /api/me/api-keys/{id}')[0]?.request.url).toContain(KEY.id);
    expect(await screen.findByText('Revoked')).toBeInTheDocument();
    expect(await screen.findByText('Key revoked')).toBeInTheDocument();
  });
});
