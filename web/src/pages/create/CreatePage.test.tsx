import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import CreatePage from './CreatePage';

const voices = { voices: ['amy', 'bob'], formats: ['wav', 'mp3', 'opus'], max_characters: 5000 };

function audioItem(id: string, title: string) {
  return {
    id,
    title,
    modality: 'audio',
    file_url: `/api/content/${id}/file`,
    previews: { state: 'ready', images: [] },
    generation: { kind: 'speech', generated_from: [], parameters: {}, provenance: [], processing_ms: 1200 },
  };
}

describe('CreatePage', () => {
  it('speaks text with the chosen voice and speed, then plays it with a download and a library link', async () => {
    const api = mockApi({
      'GET /api/generate/voices': () => voices,
      'POST /api/generate/speech': () => jsonResponse(201, audioItem('s1', 'Hello garden')),
    });
    renderWithProviders(<CreatePage />, { path: '/create' });
    expect(screen.getByRole('tab', { name: 'Speech' })).toHaveAttribute('aria-selected', 'true');
    const generate = screen.getByRole('button', { name: 'Generate speech' });
    expect(generate).toBeDisabled();
    await userEvent.type(screen.getByRole('textbox', { name: 'Text to speak' }), 'Hello garden');
    await screen.findByRole('option', { name: 'bob' });
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Voice' }), 'bob');
    await userEvent.click(generate);
    const result = await screen.findByRole('region', { name: 'Result' });
    expect(api.calls('POST /api/generate/speech')[0]?.body).toEqual({ text: 'Hello garden', voice: 'bob' });
    expect(result.querySelector('audio')).toHaveAttribute('src', '/api/content/s1/file?inline=true');
    expect(within(result).getByRole('link', { name: 'Open in library' })).toHaveAttribute('href', '/content/s1');
    expect(within(result).getByRole('link', { name: /download/i })).toHaveAttribute('href', '/api/content/s1/file');
  });

  it('names the quota a refused generation hit', async () => {
    mockApi({
      'GET /api/generate/voices': () => voices,
      'POST /api/generate/speech': () => apiError(403, 'quota_exceeded', 'quota', 'processing_seconds_per_day'),
    });
    renderWithProviders(<CreatePage />, { path: '/create' });
    await userEvent.type(screen.getByRole('textbox', { name: 'Text to speak' }), 'Hi');
    await userEvent.click(screen.getByRole('button', { name: 'Generate speech' }));
    expect(await screen.findByRole('alert')).toHaveTextContent("You have used up today's processing time");
  });

  it('summarises a picked library item and shows the text with a link', async () => {
    const note = { id: 'n1', title: 'Garden notes', modality: 'text', previews: { state: 'none', images: [] } };
    const api = mockApi({
      'GET /api/content': () => ({ items: [note] }),
      'POST /api/generate/summary': () =>
        jsonResponse(201, { ...audioItem('sum1', 'Summary of Garden notes'), modality: 'text', file_url: '/api/content/sum1/file' }),
      'GET /api/content/{id}/file': () => new Response('Roses need water.', { status: 200 }),
    });
    renderWithProviders(<CreatePage />, { path: '/create' });
    await userEvent.click(screen.getByRole('tab', { name: 'Summarise or describe' }));
    await userEvent.click(await screen.findByText('Garden notes'));
    // Descriptions are for pictures only.
    expect(screen.getByRole('radio', { name: /A description/ })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Generate summary' }));
    await waitFor(() => expect(api.calls('POST /api/generate/summary')).toHaveLength(1));
    expect(api.calls('POST /api/generate/summary')[0]?.body).toEqual({ content_id: 'n1', words: 60 });
    expect(await screen.findByText('Roses need water.')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Open in library' })).toHaveAttribute('href', '/content/sum1');
  });

  it('moves between tabs with the arrow keys', async () => {
    mockApi({ 'GET /api/generate/voices': () => voices, 'GET /api/content': () => ({ items: [] }) });
    renderWithProviders(<CreatePage />, { path: '/create' });
    screen.getByRole('tab', { name: 'Speech' }).focus();
    await userEvent.keyboard('{ArrowLeft}');
    expect(screen.getByRole('tab', { name: 'Narrate' })).toHaveFocus();
    expect(screen.getByRole('tab', { name: 'Narrate' })).toHaveAttribute('aria-selected', 'true');
    expect(await screen.findByText('Your library has no text items yet.')).toBeInTheDocument();
  });
});
