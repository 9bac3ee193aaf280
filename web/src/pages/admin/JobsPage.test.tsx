import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import JobsPage from './JobsPage';

const FAILED = {
  id: '0190a000-0000-7000-8000-00000000j001',
  content_id: 'c0ffee00-0000-7000-8000-000000000001',
  owner: '0190a000-0000-7000-8000-0000000000bb',
  modality: 'video',
  reason: 'upload',
  status: 'dead_lettered',
  attempts: 3,
  run_after: '2026-03-10T10:00:00Z',
  stage: null,
  percent: 0,
  node: 'node-a',
  error_code: 'decode_failed',
  error: 'ffmpeg could not read the stream',
  processing_ms: null,
  requested_at: '2026-03-10T09:00:00Z',
  updated_at: '2026-03-10T10:00:00Z',
};
const WORKERS = {
  node: 'node-a',
  degraded: false,
  workers: [
    { name: 'users', kind: 'projector', running: true, down: false, restarts: 0, last_error: null },
    { name: 'previews', kind: 'worker', running: true, down: false, restarts: 0, last_error: null },
    { name: 'sweeper', kind: 'worker', running: true, down: false, restarts: 0, last_error: null },
  ],
};
const RUNNING = { ...FAILED, id: '0190a000-0000-7000-8000-00000000j002', status: 'running', stage: 'transcribe', percent: 40, error_code: null, error: null, attempts: 1 };

beforeEach(() => resetSessionForTests());

describe('Admin jobs page', () => {
  it('lists failures with their error, and retries one', async () => {
    const api = mockApi({
      'GET /api/admin/workers': () => WORKERS,
      'GET /api/admin/jobs': ({ request }) => ({ jobs: new URL(request.url).searchParams.get('status') === 'dead_lettered' ? [FAILED] : [] }),
      'POST /api/admin/content/{id}/reprocess': () => jsonResponse(202, { job_id: 'new' }),
    });
    const user = userEvent.setup();
    renderWithProviders(<JobsPage />, { path: '/admin/jobs' });

    const row = (await screen.findByText('decode_failed')).closest('tr') as HTMLElement;
    expect(within(row).getByText('ffmpeg could not read the stream')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Failed' })).toHaveAttribute('aria-pressed', 'true');

    await user.click(within(row).getByRole('button', { name: /^Retry video item/ }));
    await waitFor(() => expect(api.calls('POST /api/admin/content/{id}/reprocess')).toHaveLength(1));
    expect(api.calls('POST /api/admin/content/{id}/reprocess')[0]?.request.url).toContain(FAILED.content_id);
    expect(await screen.findByText('Queued again')).toBeInTheDocument();
    expect(within(row).getByRole('button', { name: /^Retry video item/ })).toHaveTextContent('Queued');
  });

  it('filters by status and shows progress of running jobs', async () => {
    const api = mockApi({
      'GET /api/admin/workers': () => WORKERS,
      'GET /api/admin/jobs': ({ request }) => ({ jobs: new URL(request.url).searchParams.get('status') === 'running' ? [RUNNING] : [] }),
    });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<JobsPage />, { path: '/admin/jobs' });
    expect(await screen.findByText('No failed jobs')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Running' }));
    expect(await screen.findByRole('progressbar')).toHaveAttribute('aria-valuenow', '40');
    expect(screen.getByText('transcribe')).toBeInTheDocument();
    expect(router.state.location.search).toBe('?status=running');
    expect(api.calls('GET /api/admin/jobs').map((c) => new URL(c.request.url).searchParams.get('status'))).toEqual(['dead_lettered', 'running']);
  });

  it('shows a failed load with a retry', async () => {
    mockApi({ 'GET /api/admin/jobs': () => apiError(403, 'forbidden'), 'GET /api/admin/workers': () => apiError(403, 'forbidden') });
    renderWithProviders(<JobsPage />, { path: '/admin/jobs' });
    expect(await screen.findByRole('alert')).toHaveTextContent('You do not have access to this.');
  });

  it('shows the background workers, one of them restarting after a failure', async () => {
    const previews = { name: 'previews', kind: 'worker', running: false, down: true, restarts: 3, last_error: 'panicked: decoder bug' };
    mockApi({
      'GET /api/admin/jobs': () => ({ jobs: [] }),
      'GET /api/admin/workers': () => ({ ...WORKERS, degraded: true, workers: [WORKERS.workers[0], previews, WORKERS.workers[2]] }),
    });
    renderWithProviders(<JobsPage />, { path: '/admin/jobs' });
    const panel = await screen.findByRole('region', { name: /Background workers/ });
    const row = within(panel).getByText('Previews').closest('li') as HTMLElement;
    expect(within(row).getByText('Restarting')).toBeInTheDocument();
    expect(within(row).getByText('3 restarts')).toBeInTheDocument();
    expect(within(row).getByText('Last failure: panicked: decoder bug')).toBeInTheDocument();
    expect(within(panel).getByText('Sweeper').closest('li')).toHaveTextContent('Running');
    expect(within(panel).queryByText('users')).not.toBeInTheDocument();
    expect(within(panel).getByText(/Some of this node's work is down/)).toBeInTheDocument();
  });
});
