import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import ProjectionsPage from './ProjectionsPage';

const USERS = {
  name: 'users',
  position: 120,
  head: 120,
  lag: 0,
  version: 2,
  target_version: 2,
  epoch: 4,
  owner_node: 'node-a',
  updated_at: '2026-03-10T10:00:00Z',
  restarts_here: 0,
  last_error_here: null,
  running_here: true,
  rebuilding_here: false,
  last_rebuild_here: null,
  rebuild_task_here: null,
};
const USAGE = { ...USERS, name: 'usage', position: 20, lag: 100, version: 1 };

beforeEach(() => resetSessionForTests());

describe('Admin projections page', () => {
  it('shows position, lag and state of each projection', async () => {
    mockApi({ 'GET /api/admin/projections': () => ({ node: 'node-a', projections: [USERS, USAGE] }) });
    renderWithProviders(<ProjectionsPage />);
    const users = (await screen.findByText('users')).closest('tr') as HTMLElement;
    expect(within(users).getByText('Up to date')).toBeInTheDocument();
    const usage = screen.getByText('usage').closest('tr') as HTMLElement;
    expect(within(usage).getByText('Needs rebuild')).toBeInTheDocument();
    expect(within(usage).getByText('100')).toHaveTextContent('100 events behind');
  });

  it('rebuilds after confirmation and follows it until it is swapped in', async () => {
    let epoch = 4;
    const api = mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [{ ...USERS, epoch }] }),
      'POST /api/admin/projections/{name}/rebuild': ({ params }) => jsonResponse(202, { name: params.name, status: 'started' }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);

    await user.click(await screen.findByRole('button', { name: 'Rebuild users' }));
    const dialog = await screen.findByRole('dialog', { name: 'Rebuild users?' });
    expect(api.calls('POST /api/admin/projections/{name}/rebuild')).toHaveLength(0);
    await user.click(within(dialog).getByRole('button', { name: 'Rebuild' }));

    const row = screen.getByText('users', { selector: 'span' }).closest('tr') as HTMLElement;
    expect(await within(row).findByText('Rebuilding')).toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Rebuild users' })).toBeDisabled();

    // The swap takes the lease over: a higher epoch.
    epoch = 5;
    await act(async () => {
      await new Promise((r) => setTimeout(r, 1_700));
    });
    await waitFor(() => expect(within(row).getByText('Up to date')).toBeInTheDocument());
    expect(within(row).getByRole('button', { name: 'Rebuild users' })).toBeEnabled();
    expect(screen.getByText('users rebuilt')).toBeInTheDocument();
  });

  it('shows a projector that is down here, and a rebuild that was retried', async () => {
    const retried = { name: 'rebuild:usage', kind: 'task', running: true, down: false, restarts: 1, last_error: 'connection reset' };
    mockApi({
      'GET /api/admin/projections': () => ({
        node: 'node-a',
        projections: [
          { ...USERS, running_here: false, restarts_here: 2, last_error_here: 'panicked: bug in apply' },
          { ...USAGE, version: 2, rebuilding_here: true, rebuild_task_here: retried },
        ],
      }),
    });
    renderWithProviders(<ProjectionsPage />);
    const users = (await screen.findByText('users', { selector: 'span' })).closest('tr') as HTMLElement;
    expect(within(users).getByText('Restarting')).toBeInTheDocument();
    expect(within(users).getByText('panicked: bug in apply')).toBeInTheDocument();
    expect(within(users).getByText(/2 restarts here/)).toBeInTheDocument();
    const usage = screen.getByText('usage', { selector: 'span' }).closest('tr') as HTMLElement;
    expect(within(usage).getByText(/Rebuild retried 1 time/)).toHaveTextContent('connection reset');
  });

  it('shows a rebuild this node is running when the page opens', async () => {
    mockApi({ 'GET /api/admin/projections': () => ({ node: 'node-a', projections: [{ ...USERS, rebuilding_here: true }] }) });
    renderWithProviders(<ProjectionsPage />);
    const row = (await screen.findByText('users', { selector: 'span' })).closest('tr') as HTMLElement;
    expect(await within(row).findByText('Rebuilding')).toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Rebuild users' })).toBeDisabled();
  });

  it('reports a rebuild that failed, with its reason', async () => {
    let state: Record<string, unknown> = {};
    mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [{ ...USERS, ...state }] }),
      'POST /api/admin/projections/{name}/rebuild': ({ params }) => jsonResponse(202, { name: params.name, status: 'started' }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Rebuild users' }));
    await user.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Rebuild' }));
    state = {
      last_rebuild_here: { finished_at: new Date(Date.now() + 500).toISOString(), succeeded: false, events: null, error: 'disk full' },
    };
    await act(async () => {
      await new Promise((r) => setTimeout(r, 1_700));
    });
    expect(await screen.findByText('The users rebuild failed')).toBeInTheDocument();
    const row = screen.getByText('users', { selector: 'span' }).closest('tr') as HTMLElement;
    expect(within(row).getByText(/Rebuild failed/)).toHaveTextContent('disk full');
    expect(within(row).getByRole('button', { name: 'Rebuild users' })).toBeEnabled();
  });

  it('follows a rebuild that is already running', async () => {
    mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [USERS] }),
      'POST /api/admin/projections/{name}/rebuild': () => apiError(409, 'rebuild_in_progress', 'a rebuild of users is already running'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Rebuild users' }));
    await user.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Rebuild' }));
    expect(await screen.findByText('users is already rebuilding')).toBeInTheDocument();
    expect(screen.getByText('Rebuilding')).toBeInTheDocument();
  });
});
