import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import ApiKeysPage from './ApiKeysPage';

const KEY = {
  id: '0190a000-0000-7000-8000-000000000001',
  name: 'CI uploader',
  prefix: 'tsk_ab12',
  created_at: '2026-01-01T10:00:00Z',
  last_used_at: null,
  revoked_at: null,
};

beforeEach(() => resetSessionForTests());

describe('API keys page', () => {
  it('creates a key and shows its secret once', async () => {
    const keys: (typeof KEY)[] = [];
    const api = mockApi({
      'GET /api/me/api-keys': () => ({ api_keys: keys }),
      'POST /api/me/api-keys': ({ body }) => {
        const name = (body as { name: string }).name;
        keys.unshift({ ...KEY, name });
        return new Response(JSON.stringify({ ...KEY, name, key: 'tsk_ab12_SECRET' }), { status: 201, headers: { 'content-type': 'application/json' } });
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />);

    await user.click(await screen.findByRole('button', { name: 'Create key' }));
    const dialog = await screen.findByRole('dialog', { name: 'Create an API key' });
    await user.type(within(dialog).getByLabelText('Name'), '  Nightly backup ');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));

    const shown = await screen.findByRole('dialog', { name: 'Copy your new key' });
    expect(within(shown).getByDisplayValue('tsk_ab12_SECRET')).toBeInTheDocument();
    expect(api.calls('POST /api/me/api-keys')[0]?.body).toEqual({ name: 'Nightly backup' });

    await user.click(within(shown).getByRole('button', { name: 'Copy' }));
    expect(await navigator.clipboard.readText()).toBe('tsk_ab12_SECRET');
    expect(within(shown).getByRole('button', { name: 'Copied' })).toBeInTheDocument();

    await user.click(within(shown).getByRole('button', { name: 'Done' }));
    expect(screen.queryByDisplayValue('tsk_ab12_SECRET')).not.toBeInTheDocument();
    expect(await screen.findByRole('cell', { name: 'Nightly backup' })).toBeInTheDocument();
  });

  it('shows the server validation message on the name field', async () => {
    mockApi({
      'GET /api/me/api-keys': () => ({ api_keys: [] }),
      'POST /api/me/api-keys': () => apiError(422, 'validation_failed', 'must not contain control characters', 'name'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />);
    await user.click(await screen.findByRole('button', { name: 'Create key' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText('Name'), 'x');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    const input = within(dialog).getByLabelText('Name');
    await waitFor(() => expect(input).toHaveAccessibleDescription(/must not contain control characters/));
    expect(input).toHaveAttribute('aria-invalid', 'true');
  });

  it('revokes a key after confirmation', async () => {
    let revoked = false;
    const api = mockApi({
      'GET /api/me/api-keys': () => ({ api_keys: [{ ...KEY, revoked_at: revoked ? '2026-01-02T00:00:00Z' : null }] }),
      'DELETE /api/me/api-keys/{id}': () => {
        revoked = true;
        return null;
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ApiKeysPage />);

    await user.click(await screen.findByRole('button', { name: 'Revoke CI uploader' }));
    const confirm = await screen.findByRole('dialog', { name: 'Revoke “CI uploader”?' });
    await user.click(within(confirm).getByRole('button', { name: 'Revoke key' }));

    await waitFor(() => expect(api.calls('DELETE /api/me/api-keys/{id}')).toHaveLength(1));
    expect(api.calls('DELETE /api/me/api-keys/{id}')[0]?.request.url).toContain(KEY.id);
    expect(await screen.findByText('Revoked')).toBeInTheDocument();
    expect(await screen.findByText('Key revoked')).toBeInTheDocument();
  });
});
