import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import ModelsPage from './ModelsPage';

const BASE = { task: 'caption', version: '1', runtime: 'onnx', licence: 'MIT', description: null, memory_mb: 512, installed: true, bytes: 1024 ** 3, loaded: false };
const CAPTION = { ...BASE, id: 'caption-small' };
const WHISPER = { ...BASE, id: 'whisper-base', task: 'transcribe', loaded: true, memory_mb: 300 };
const MISSING = { ...BASE, id: 'llm-large', task: 'chat', installed: false, bytes: null };

function list(models = [CAPTION, WHISPER, MISSING], loaded_mb = 300) {
  return { models, processing: true, memory_budget_mb: 2048, loaded_mb };
}

beforeEach(() => resetSessionForTests());

describe('Admin models page', () => {
  it('shows memory against the budget and each model’s state', async () => {
    mockApi({ 'GET /api/admin/models': () => list() });
    renderWithProviders(<ModelsPage />);
    expect(await screen.findByRole('meter', { name: 'Model memory' })).toHaveAttribute('aria-valuetext', '300 MB of 2.0 GB (15%)');
    const missing = screen.getByText('llm-large').closest('tr') as HTMLElement;
    expect(within(missing).getByText('Not installed')).toBeInTheDocument();
    expect(within(missing).getByRole('button', { name: 'Load llm-large' })).toBeDisabled();
    expect(within(screen.getByText('whisper-base').closest('tr') as HTMLElement).getByRole('button', { name: 'Unload whisper-base' })).toBeEnabled();
  });

  it('loads a model with a pending state, then shows it loaded', async () => {
    let release: () => void = () => undefined;
    let loaded = false;
    const api = mockApi({
      'GET /api/admin/models': () => list([{ ...CAPTION, loaded }, WHISPER], loaded ? 812 : 300),
      'POST /api/admin/models/{id}/{action}': () =>
        new Promise((ok) => {
          release = () => {
            loaded = true;
            ok({ model: { ...CAPTION, loaded: true }, changed: true });
          };
        }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ModelsPage />);
    await user.click(await screen.findByRole('button', { name: 'Load caption-small' }));
    const pending = screen.getByRole('button', { name: 'Load caption-small' });
    expect(pending).toBeDisabled();
    expect(pending).toHaveTextContent('Loading…');
    expect(api.calls('POST /api/admin/models/{id}/{action}')[0]?.request.url).toMatch(/\/api\/admin\/models\/caption-small\/load$/);

    release();
    expect(await screen.findByRole('button', { name: 'Unload caption-small' })).toBeEnabled();
    expect(within(screen.getByText('caption-small').closest('tr') as HTMLElement).getByText('Loaded')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('meter', { name: 'Model memory' })).toHaveAttribute('aria-valuetext', expect.stringMatching(/^812 MB/)));
  });

  it('says why a model could not be unloaded', async () => {
    mockApi({
      'GET /api/admin/models': () => list(),
      'POST /api/admin/models/{id}/{action}': () => apiError(409, 'model_busy', 'model whisper-base is answering requests'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ModelsPage />);
    await user.click(await screen.findByRole('button', { name: 'Unload whisper-base' }));
    const row = screen.getByText('whisper-base').closest('tr') as HTMLElement;
    expect(await within(row).findByRole('alert')).toHaveTextContent('The model is answering requests right now. Try again when it is idle.');
    expect(within(row).getByRole('button', { name: 'Unload whisper-base' })).toBeEnabled();
  });

  it('shows the reason a model could not be loaded', async () => {
    mockApi({
      'GET /api/admin/models': () => list(),
      'POST /api/admin/models/{id}/{action}': () => apiError(503, 'model_unavailable', 'out of memory'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ModelsPage />);
    await user.click(await screen.findByRole('button', { name: 'Load caption-small' }));
    expect(await within(screen.getByText('caption-small').closest('tr') as HTMLElement).findByRole('alert')).toHaveTextContent('The model could not be loaded: out of memory');
  });
});
