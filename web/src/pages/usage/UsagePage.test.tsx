import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import UsagePage from './UsagePage';

const GB = 1024 ** 3;

const USAGE = {
  user_id: '0190a000-0000-7000-8000-000000000001',
  stored_bytes: 1.5 * GB,
  reserved_bytes: 0,
  items: 42,
  limits: { storage_bytes: 5 * GB, uploads_per_day: 10, processing_seconds_per_day: 600 },
  today: { day: '2026-03-10', uploads: 10, processing_seconds: 90, tokens: 1234, audio_seconds: 12.5 },
  days: [
    { day: '2026-03-10', modality: 'image', uploads: 7, bytes_uploaded: 7000, bytes_released: 0, processing_seconds: 60, tokens_in: 0, tokens_out: 0, audio_seconds: 0, generations: 0 },
    { day: '2026-03-10', modality: 'audio', uploads: 3, bytes_uploaded: 3000, bytes_released: 0, processing_seconds: 30, tokens_in: 0, tokens_out: 0, audio_seconds: 12.5, generations: 1 },
    { day: '2026-03-02', modality: 'text', uploads: 1, bytes_uploaded: 10, bytes_released: 0, processing_seconds: 1, tokens_in: 1000, tokens_out: 234, audio_seconds: 0, generations: 2 },
  ],
};

beforeEach(() => resetSessionForTests());

describe('Usage page', () => {
  it('shows each counter against its limit, in words too', async () => {
    mockApi({ 'GET /api/usage': () => USAGE });
    renderWithProviders(<UsagePage />);

    const storage = await screen.findByRole('meter', { name: 'Storage' });
    expect(storage).toHaveAttribute('aria-valuetext', '1.5 GB of 5.0 GB (30%)');
    expect(screen.getByText('42 items stored')).toBeInTheDocument();

    const uploads = screen.getByRole('meter', { name: 'Uploads today' });
    expect(uploads).toHaveAttribute('aria-valuetext', '10 of 10 (100%)');
    expect(within(uploads.closest('section') as HTMLElement).getByText('Limit reached')).toBeInTheDocument();

    expect(screen.getByRole('meter', { name: 'Processing today' })).toHaveAttribute('aria-valuetext', '1.5 min of 10 min (15%)');
    // Tokens and audio have no limit: counted, not metered.
    expect(screen.queryByRole('meter', { name: 'Tokens today' })).not.toBeInTheDocument();
    expect(screen.getByRole('region', { name: 'Tokens today' })).toHaveTextContent('1,234');
  });

  it('counts storage held for uploads in progress against the quota, and says so', async () => {
    mockApi({ 'GET /api/usage': () => ({ ...USAGE, reserved_bytes: 1 * GB }) });
    renderWithProviders(<UsagePage />);

    const storage = await screen.findByRole('meter', { name: 'Storage' });
    expect(storage).toHaveAttribute('aria-valuetext', '2.5 GB of 5.0 GB (50%)');
    expect(screen.getByText('42 items stored; 1.0 GB held for uploads in progress')).toBeInTheDocument();
  });

  it('draws the last 30 days with every number in a table, per metric', async () => {
    mockApi({ 'GET /api/usage': () => USAGE });
    const user = userEvent.setup();
    renderWithProviders(<UsagePage />);

    const chart = await screen.findByRole('img', { name: /Uploads per day over the last 30 days.*Total 11/ });
    expect(chart).toBeInTheDocument();
    const table = screen.getByRole('table', { name: 'Uploads per day and modality, last 30 days' });
    expect(within(table).getAllByRole('row')).toHaveLength(31);
    const last = within(table).getAllByRole('row').at(-1) as HTMLElement;
    expect(within(last).getAllByRole('cell').map((c) => c.textContent)).toEqual(['0', '7', '3', '10']);

    await user.click(screen.getByRole('button', { name: 'Tokens' }));
    expect(screen.getByRole('button', { name: 'Tokens' })).toHaveAttribute('aria-pressed', 'true');
    expect(screen.getByRole('table', { name: 'Tokens per day and modality, last 30 days' })).toBeInTheDocument();
    expect(screen.getByRole('img', { name: /Total 1,234/ })).toBeInTheDocument();

    // The keyboard reads one day at a time.
    screen.getByRole('img', { name: /Tokens per day/ }).focus();
    await user.keyboard('{End}');
    expect(screen.getByText(/: 0$/, { selector: '[aria-live]' })).toBeInTheDocument();
  });

  it('says why the usage could not load and retries', async () => {
    let fail = true;
    mockApi({ 'GET /api/usage': () => (fail ? apiError(500, 'internal_error', 'boom') : USAGE) });
    const user = userEvent.setup();
    renderWithProviders(<UsagePage />);

    expect(await screen.findByRole('alert')).toHaveTextContent('Could not load your usage');
    fail = false;
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('meter', { name: 'Storage' })).toBeInTheDocument();
  });
});
