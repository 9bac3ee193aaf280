import { screen } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import { ID, mediaItem } from '../content/testData';
import { AnswerSources } from './Sources';

beforeEach(() => resetSessionForTests());

describe('AnswerSources', () => {
  it('links each found passage to its place in the item', async () => {
    mockApi({ 'GET /api/content/{id}': () => mediaItem('audio', { title: 'memo.wav' }) });
    renderWithProviders(
      <AnswerSources
        context={[
          { content_id: 'attached', parts: ['transcript'] },
          {
            content_id: ID,
            parts: ['passage'],
            places: [
              { type: 'time', start: 7.25, end: 9.5 },
              { type: 'box', x: 40, y: 70, width: 360, height: 50 },
            ],
          },
        ]}
      />,
    );
    const second = await screen.findByRole('link', { name: 'memo.wav, 0:07' });
    expect(second.getAttribute('href')).toBe(`/content/${ID}?t=7.25`);
    const box = screen.getByRole('link', { name: 'memo.wav, in the picture' });
    expect(box.getAttribute('href')).toBe(`/content/${ID}?box=40,70,360,50`);
    // Attachments are shown with the question, not again as sources.
    expect(screen.getAllByRole('listitem')).toHaveLength(1);
  });

  it('shows nothing when no library item was found', () => {
    const { container } = renderWithProviders(<AnswerSources context={[{ content_id: ID, parts: ['text'] }]} />);
    expect(container.textContent).toBe('');
  });
});
