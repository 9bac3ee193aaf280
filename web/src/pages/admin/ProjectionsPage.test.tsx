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
  stalled_at: null,
  dead_letters: [],
};
const USAGE = { ...USERS, name: 'usage', position: 20, lag: 100, version: 1 };

/** An event `users` cannot apply, still waiting for a decision. */
const DEAD = {
  position: 121,
  version: 2,
  event_id: '5b1f0c7e-8f53-4c57-9a55-6f3e0d1b2c44',
  event_type: 'UserRenamed',
  stream_id: 'user-42',
  during_rebuild: false,
  error: 'apply UserRenamed at 121: duplicate key value violates unique constraint "users_email_key"',
  attempts: 3,
  first_failed_at: '2026-03-10T09:00:00Z',
  last_failed_at: '2026-03-10T09:59:00Z',
  resolution: null,
  resolved_at: null,
};
const STALLED = { ...USERS, head: 130, lag: 10, stalled_at: 121, dead_letters: [DEAD] };
const RETRY = 'POST /api/admin/projections/{name}/dead-letters/{position}/retry';
const SKIP = 'POST /api/admin/projections/{name}/dead-letters/{position}/skip';

function deadLetters(name = 'users'): HTMLElement {
  return screen.getByRole('region', { name: `Events ${name} could not apply` });
}

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

  it('marks a stalled projection and lists the event it could not apply', async () => {
    mockApi({ 'GET /api/admin/projections': () => ({ node: 'node-a', projections: [STALLED, USAGE] }) });
    renderWithProviders(<ProjectionsPage />);
    const users = (await screen.findByText('users', { selector: 'span' })).closest('tr') as HTMLElement;
    expect(within(users).getByText('Stalled at #121')).toBeInTheDocument();
    expect(within(users).getByText(/Reads are stale/)).toBeInTheDocument();
    expect(within(users).getByRole('link', { name: '1 event it could not apply' })).toHaveAttribute('href', '#dead-letters-users');
    const usage = screen.getByText('usage', { selector: 'span' }).closest('tr') as HTMLElement;
    expect(within(usage).queryByText(/Stalled/)).not.toBeInTheDocument();

    const section = deadLetters();
    expect(within(section).getByText(/stopped before event #121/)).toBeInTheDocument();
    const row = within(section).getByText('UserRenamed').closest('tr') as HTMLElement;
    expect(within(row).getByText('#121')).toBeInTheDocument();
    expect(within(row).getByText('user-42')).toBeInTheDocument();
    expect(within(row).getByText('3 attempts')).toBeInTheDocument();
    expect(within(row).getByText(DEAD.error)).toBeInTheDocument();
    expect(within(row).getByText('Open')).toBeInTheDocument();
    expect(within(row).queryByText('Met during a rebuild')).not.toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Retry event #121 in users' })).toBeEnabled();
    expect(within(row).getByRole('button', { name: 'Skip event #121 in users…' })).toBeEnabled();
    expect(screen.queryByRole('region', { name: 'Events usage could not apply' })).not.toBeInTheDocument();
  });

  it('retries a dead letter, then reports that it failed again', async () => {
    let dead: Record<string, unknown> = DEAD;
    const api = mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [{ ...STALLED, dead_letters: [dead] }] }),
      [RETRY]: ({ params }) => {
        dead = { ...DEAD, attempts: 4, error: 'still a duplicate key' };
        return jsonResponse(202, { name: params.name, position: Number(params.position), decision: 'retry' });
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Retry event #121 in users' }));

    await waitFor(() => expect(api.calls(RETRY)).toHaveLength(1));
    const [call] = api.calls(RETRY);
    expect(new URL(call?.request.url ?? '').pathname).toBe('/api/admin/projections/users/dead-letters/121/retry');
    expect(call?.body).toBeUndefined();
    expect(await screen.findByText('Retrying event #121 in users')).toBeInTheDocument();
    // The list is fetched again at once, and the outcome is reported.
    const toasts = screen.getByRole('region', { name: 'Notifications' });
    expect(await within(toasts).findByText('Event #121 in users failed again')).toBeInTheDocument();
    expect(within(toasts).getByText('still a duplicate key')).toBeInTheDocument();
    const row = within(deadLetters()).getByText('UserRenamed').closest('tr') as HTMLElement;
    expect(within(row).getByText('4 attempts')).toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Retry event #121 in users' })).toBeEnabled();
  });

  it('reports a retry that applied the event', async () => {
    let projection: Record<string, unknown> = STALLED;
    mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [projection] }),
      [RETRY]: ({ params }) => {
        projection = { ...USERS, dead_letters: [{ ...DEAD, resolution: 'applied', resolved_at: new Date().toISOString() }] };
        return jsonResponse(202, { name: params.name, position: Number(params.position), decision: 'retry' });
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Retry event #121 in users' }));
    expect(await screen.findByText('Event #121 in users applied')).toBeInTheDocument();
    const users = screen.getByText('users', { selector: 'span' }).closest('tr') as HTMLElement;
    expect(within(users).getByText('Up to date')).toBeInTheDocument();
    expect(within(deadLetters()).getByText('Applied')).toBeInTheDocument();
  });

  it('skips a dead letter only with a reason, and sends it', async () => {
    const api = mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [STALLED] }),
      [SKIP]: ({ params }) => jsonResponse(202, { name: params.name, position: Number(params.position), decision: 'skip' }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Skip event #121 in users…' }));

    const dialog = await screen.findByRole('dialog', { name: 'Skip event #121 in users?' });
    expect(dialog).toHaveAccessibleDescription(/read model will not reflect this event/);
    const submit = within(dialog).getByRole('button', { name: 'Skip event' });
    const reason = within(dialog).getByRole('textbox', { name: 'Reason' });
    expect(submit).toBeDisabled();
    await user.type(reason, '   ');
    expect(submit).toBeDisabled();
    await user.clear(reason);
    await user.click(reason);
    await user.paste('x'.repeat(501));
    expect(submit).toBeDisabled();
    expect(within(dialog).getByText(/1 characters too many/)).toBeInTheDocument();
    expect(reason).toBeInvalid();

    await user.clear(reason);
    await user.type(reason, '  Duplicate of #120, fixed by hand  ');
    expect(submit).toBeEnabled();
    await user.click(submit);

    await waitFor(() => expect(api.calls(SKIP)).toHaveLength(1));
    const [call] = api.calls(SKIP);
    expect(new URL(call?.request.url ?? '').pathname).toBe('/api/admin/projections/users/dead-letters/121/skip');
    expect(call?.body).toEqual({ reason: 'Duplicate of #120, fixed by hand' });
    expect(await screen.findByText('Skipped event #121 in users')).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('says when the event was already applied or skipped', async () => {
    mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [STALLED] }),
      [RETRY]: () => apiError(409, 'dead_letter_resolved', 'the event was already applied or skipped'),
      [SKIP]: () => apiError(409, 'dead_letter_resolved', 'the event was already applied or skipped'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Retry event #121 in users' }));
    const toasts = screen.getByRole('region', { name: 'Notifications' });
    expect(await within(toasts).findByText('Could not retry event #121')).toBeInTheDocument();
    expect(within(toasts).getByText('That event was already applied or skipped.')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Skip event #121 in users…' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByRole('textbox', { name: 'Reason' }), 'not needed');
    await user.click(within(dialog).getByRole('button', { name: 'Skip event' }));
    expect(await within(toasts).findByText('Could not skip event #121')).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('keeps the reason when the server turns it down', async () => {
    mockApi({
      'GET /api/admin/projections': () => ({ node: 'node-a', projections: [STALLED] }),
      [SKIP]: () => apiError(422, 'validation_failed', 'say why, in 1 to 500 characters', 'reason'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ProjectionsPage />);
    await user.click(await screen.findByRole('button', { name: 'Skip event #121 in users…' }));
    const dialog = await screen.findByRole('dialog');
    const reason = within(dialog).getByRole('textbox', { name: 'Reason' });
    await user.type(reason, 'because');
    await user.click(within(dialog).getByRole('button', { name: 'Skip event' }));
    expect(await within(dialog).findByText('say why, in 1 to 500 characters')).toBeInTheDocument();
    expect(reason).toHaveValue('because');
    expect(reason).toBeInvalid();
  });

  it('shows resolved dead letters without actions', async () => {
    const resolved = [
      { ...DEAD, resolution: 'applied', resolved_at: '2026-03-10T10:00:00Z' },
      { ...DEAD, position: 90, event_type: 'UserDeleted', during_rebuild: true, resolution: 'skipped', resolved_at: '2026-03-09T10:00:00Z' },
    ];
    mockApi({ 'GET /api/admin/projections': () => ({ node: 'node-a', projections: [{ ...USERS, dead_letters: resolved }] }) });
    renderWithProviders(<ProjectionsPage />);
    const users = (await screen.findByText('users', { selector: 'span' })).closest('tr') as HTMLElement;
    expect(within(users).getByText('Up to date')).toBeInTheDocument();
    expect(within(users).queryByRole('link')).not.toBeInTheDocument();

    const section = deadLetters();
    expect(within(section).getByText(/None is waiting for a decision/)).toBeInTheDocument();
    const applied = within(section).getByText('UserRenamed').closest('tr') as HTMLElement;
    expect(within(applied).getByText('Applied')).toBeInTheDocument();
    expect(applied.querySelector('time[datetime="2026-03-10T10:00:00Z"]')).toBeInTheDocument();
    const skipped = within(section).getByText('UserDeleted').closest('tr') as HTMLElement;
    expect(within(skipped).getByText('Skipped')).toBeInTheDocument();
    expect(within(skipped).getByText('Met during a rebuild')).toBeInTheDocument();
    expect(within(section).queryByRole('button')).not.toBeInTheDocument();
  });
});
