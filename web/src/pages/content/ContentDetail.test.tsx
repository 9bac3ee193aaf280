import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { LiveContext } from '../../live/LiveContext';
import type { LiveEvent } from '../../live/protocol';
import type { EventFilter, LiveSocket } from '../../live/socket';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import { ContentDetail } from './ContentDetail';
import { ID, imageItem, job, mediaItem, textItem } from './testData';
import type { Item } from './useContentItem';

beforeEach(() => {
  resetSessionForTests();
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
  vi.spyOn(HTMLMediaElement.prototype, 'pause').mockReturnValue(undefined);
});

/** The usual routes for one item; `extra` overrides or adds. */
/** The element, failing the test when it is missing. */
function must<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected an element');
  return value;
}

function serve(item: Item, extra: Parameters<typeof mockApi>[0] = {}) {
  return mockApi({
    'GET /api/content/{id}': () => item,
    'GET /api/content/tags': () => ({ tags: [{ tag: 'street', items: 3 }, { tag: 'shop', items: 1 }] }),
    'GET /api/content/{id}/jobs': () => ({ jobs: [job()] }),
    'GET /api/content': () => ({ items: [] }),
    'GET /api/content/{id}/similar': () => ({ items: [] }),
    ...extra,
  });
}

/** A socket stand-in: tests push events to whoever subscribed. */
function fakeSocket() {
  const subs = new Set<{ filter: EventFilter; handler: (e: LiveEvent) => void }>();
  const socket = {
    subscribe(filter: EventFilter, handler: (e: LiveEvent) => void) {
      const s = { filter, handler };
      subs.add(s);
      return () => subs.delete(s);
    },
    onStatus: () => () => undefined,
    getStatus: () => 'live',
  } as unknown as LiveSocket;
  const push = (event: Partial<LiveEvent> & { event_type: string }) => {
    const e = { position: 1, event_id: 'e', stream: '', stream_version: 1, schema_version: 1, payload: {}, recorded_at: '', ...event } as LiveEvent;
    for (const s of subs) if (s.filter === e.event_type) s.handler(e);
  };
  return { socket, push };
}

describe('content detail: image', () => {
  it('shows the picture with its text boxes, the text list and the labels', async () => {
    serve(imageItem());
    renderWithProviders(<ContentDetail id={ID} />);

    expect(await screen.findByRole('heading', { level: 1, name: 'Shop sign' })).toBeInTheDocument();
    expect(screen.getByRole('img', { name: /white sign/i })).toHaveAttribute('src', `/api/content/${ID}/file?inline=true`);

    const boxes = within(screen.getByRole('group', { name: 'Text found in the picture' })).getAllByRole('button');
    expect(boxes).toHaveLength(2);
    // Placed in percent of the image, so they follow the displayed size.
    expect(boxes[0]).toHaveStyle({ left: `${(40 / 720) * 100}%`, top: '35%', width: '50%', height: '25%' });

    const text = screen.getByRole('region', { name: 'Text in the picture' });
    const line = within(text).getByText('OPEN DAILY').closest('li');
    expect(line).not.toHaveAttribute('data-active');
    fireEvent.mouseEnter(must(boxes[0]));
    expect(line).toHaveAttribute('data-active', 'true');
    fireEvent.mouseLeave(must(boxes[0]));
    expect(line).not.toHaveAttribute('data-active');

    // And the other way round: focusing a line highlights its box.
    act(() => must(within(text).getByText('FROM NINE').closest('li')).focus());
    expect(must(boxes[1]).className).toMatch(/border-brand-500/);

    const labels = screen.getByRole('region', { name: 'Labels' });
    const items = within(labels).getAllByRole('listitem');
    expect(items[0]).toHaveTextContent('billboard');
    expect(items[0]).toHaveTextContent('71%');
    expect(items[1]).toHaveTextContent('street sign');

    const models = screen.getByRole('region', { name: 'Models' });
    expect(within(models).getByText('Text in the image')).toBeInTheDocument();
    expect(within(models).getByText('paddle-ocr · 1.0')).toBeInTheDocument();
    expect(within(models).getByText('Reused')).toBeInTheDocument();
  });
});

describe('content detail: audio and video', () => {
  it('seeks and plays from a transcript line, and marks the line being spoken', async () => {
    serve(mediaItem('audio'));
    const user = userEvent.setup();
    const { container } = renderWithProviders(<ContentDetail id={ID} />);

    const transcript = await screen.findByRole('region', { name: 'Transcript' });
    const lines = within(transcript).getAllByRole('button');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toHaveTextContent('0:04');

    const audio = must(container.querySelector('audio'));
    await user.click(must(lines[1]));
    expect(audio.currentTime).toBe(4);
    expect(HTMLMediaElement.prototype.play).toHaveBeenCalled();
    expect(lines[1]).toHaveAttribute('aria-current', 'true');

    // Playback moves on: the highlight follows, focus stays where it was.
    audio.currentTime = 1;
    fireEvent.timeUpdate(audio);
    expect(lines[0]).toHaveAttribute('aria-current', 'true');
    expect(lines[1]).not.toHaveAttribute('aria-current');
    expect(lines[1]).toHaveFocus();
  });

  it('lets a keyframe seek the video', async () => {
    serve(mediaItem('video'));
    const user = userEvent.setup();
    const { container } = renderWithProviders(<ContentDetail id={ID} />);
    const strip = await screen.findByRole('region', { name: 'Keyframes' });
    await user.click(within(strip).getByRole('button', { name: /play from 0:03/i }));
    expect(must(container.querySelector('video')).currentTime).toBe(3);
  });

  it('says a video without sound has no transcript', async () => {
    const item = mediaItem('video', { media: { has_audio: false, has_video: true, width: 640, height: 360 } } as Partial<Item>);
    (item.analysis.result as Record<string, unknown>).transcript = null;
    serve(item);
    renderWithProviders(<ContentDetail id={ID} />);
    const transcript = await screen.findByRole('region', { name: 'Transcript' });
    expect(within(transcript).getByText('This video has no sound.')).toBeInTheDocument();
  });
});

describe('content detail: text', () => {
  it('sets the text in paragraphs', async () => {
    serve(textItem(), {
      'GET /api/content/{id}/file': () => new Response('First paragraph.\n\nSecond one,\nwith a break.', { status: 200 }),
    });
    renderWithProviders(<ContentDetail id={ID} />);
    const article = await screen.findByRole('article', { name: 'Text' });
    await waitFor(() => expect(article.querySelectorAll('p')).toHaveLength(2));
    // The single line break inside a paragraph is kept.
    expect(article.querySelectorAll('p')[1]?.textContent).toBe('Second one,\nwith a break.');
  });
});

describe('content detail: opened at a search hit', () => {
  it('seeks the player to `t` once it is loaded', async () => {
    serve(mediaItem('audio'));
    const { container } = renderWithProviders(<ContentDetail id={ID} />, { path: `/content/${ID}?t=4.5` });
    const transcript = await screen.findByRole('region', { name: 'Transcript' });
    const audio = must(container.querySelector('audio'));
    fireEvent.loadedMetadata(audio);
    expect(audio.currentTime).toBe(4.5);
    // The line being spoken there is marked.
    expect(within(transcript).getAllByRole('button')[1]).toHaveAttribute('aria-current', 'true');
  });

  it('draws the box over the picture, scaled from its pixels', async () => {
    serve(imageItem());
    renderWithProviders(<ContentDetail id={ID} />, { path: `/content/${ID}?box=40,70,360,50` });
    const box = await screen.findByRole('img', { name: 'Where the search found it' });
    // The image is 720×200: percent of it, so the box follows the displayed size.
    expect(box).toHaveStyle({ left: `${(40 / 720) * 100}%`, top: '35%', width: '50%', height: '25%' });
  });

  it('highlights the paragraph of a byte range and scrolls it into view', async () => {
    // Multi-byte characters before the range: byte offsets are not string indices.
    const first = 'Crème brûlée, 日本 🌍.';
    const second = 'Wir trafen uns am Fluss.';
    const text = `${first}\n\n${second}\n\nThe end.`;
    const start = new TextEncoder().encode(`${first}\n\n`).length;
    const end = start + new TextEncoder().encode(second).length;
    serve(textItem(), { 'GET /api/content/{id}/file': () => new Response(text, { status: 200 }) });
    const scroll = vi.fn();
    Element.prototype.scrollIntoView = scroll;
    try {
      renderWithProviders(<ContentDetail id={ID} />, { path: `/content/${ID}?para=${start}-${end}` });
      const article = await screen.findByRole('article', { name: 'Text' });
      await waitFor(() => expect(article.querySelectorAll('mark')).toHaveLength(1));
      expect(article.querySelector('mark')?.textContent).toBe(second);
      expect(scroll).toHaveBeenCalledTimes(1);
      expect(scroll.mock.contexts[0]).toBe(article.querySelector('[data-found]'));
    } finally {
      delete (Element.prototype as Partial<Element>).scrollIntoView;
    }
  });

  it('lists similar items, and nothing when there are none', async () => {
    const other = textItem({ id: '0190a000-0000-7000-8000-0000000000c2', title: 'Bakery hours' });
    serve(imageItem(), { 'GET /api/content/{id}/similar': () => ({ items: [{ item: other, score: 0.7, hits: [] }] }) });
    const { unmount } = renderWithProviders(<ContentDetail id={ID} />);
    const panel = await screen.findByRole('region', { name: 'More like this' });
    expect(within(panel).getByRole('link', { name: /Bakery hours/ })).toHaveAttribute('href', `/content/${other.id}`);
    unmount();

    const api = serve(imageItem());
    renderWithProviders(<ContentDetail id={ID} />);
    await screen.findByRole('heading', { level: 1, name: 'Shop sign' });
    await waitFor(() => expect(api.calls('GET /api/content/{id}/similar')).toHaveLength(1));
    expect(new URL(must(api.calls('GET /api/content/{id}/similar')[0]).request.url).searchParams.get('limit')).toBe('6');
    expect(screen.queryByRole('region', { name: 'More like this' })).not.toBeInTheDocument();
  });
});

describe('content detail: editing and actions', () => {
  it('renames the item inline', async () => {
    const api = serve(imageItem(), {
      'PATCH /api/content/{id}': ({ body }) => imageItem({ title: (body as { title: string }).title }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    await user.click(await screen.findByRole('button', { name: 'Rename' }));
    const field = screen.getByLabelText('Title');
    await user.clear(field);
    await user.type(field, '  Bakery sign ');
    await user.click(screen.getByRole('button', { name: 'Save title' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Bakery sign' })).toBeInTheDocument();
    expect(api.calls('PATCH /api/content/{id}')[0]?.body).toEqual({ title: 'Bakery sign' });
  });

  it('shows a refused rename in plain words next to the field', async () => {
    serve(imageItem(), {
      'PATCH /api/content/{id}': () => apiError(422, 'validation_failed', 'a title has at most 300 characters', 'title'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    await user.click(await screen.findByRole('button', { name: 'Rename' }));
    await user.type(screen.getByLabelText('Title'), 'x');
    await user.click(screen.getByRole('button', { name: 'Save title' }));
    await waitFor(() => expect(screen.getByLabelText('Title')).toHaveAccessibleDescription(/at most 300 characters/));
  });

  it('adds and removes tags', async () => {
    const api = serve(imageItem(), {
      'PATCH /api/content/{id}': ({ body }) => {
        const b = body as { add_tags?: string[]; remove_tags?: string[] };
        return imageItem({ tags: ['shop', ...(b.add_tags ?? [])].filter((t) => !b.remove_tags?.includes(t)) });
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    const field = await screen.findByLabelText('Add tags');
    // The user's other tags are suggested; the item's own are not.
    await waitFor(() => {
      const list = document.getElementById(field.getAttribute('list') ?? '');
      expect([...(list?.querySelectorAll('option') ?? [])].map((o) => o.value)).toEqual(['street']);
    });
    await user.type(field, 'street, shop, sign{Enter}');
    expect(api.calls('PATCH /api/content/{id}')[0]?.body).toEqual({ add_tags: ['street', 'sign'] });
    await user.click(await screen.findByRole('button', { name: 'Remove tag shop' }));
    expect(api.calls('PATCH /api/content/{id}')[1]?.body).toEqual({ remove_tags: ['shop'] });
  });

  it('moves the item to the trash after confirmation, then restores it', async () => {
    let deleted = false;
    const api = serve(imageItem(), {
      'GET /api/content/{id}': () =>
        imageItem(deleted ? { deleted_at: '2026-01-03T10:00:00Z', purge_after: '2026-02-02T10:00:00Z' } : {}),
      'DELETE /api/content/{id}': () => {
        deleted = true;
        return null;
      },
      'POST /api/content/{id}/restore': () => {
        deleted = false;
        return imageItem();
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    await user.click(await screen.findByRole('button', { name: 'Delete' }));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Move to trash' }));
    expect(api.calls('DELETE /api/content/{id}')).toHaveLength(1);
    expect(await screen.findByText(/this item is in the trash/i)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Rename' })).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Restore' }));
    await waitFor(() => expect(screen.queryByText(/this item is in the trash/i)).not.toBeInTheDocument());
    expect(screen.getByRole('button', { name: 'Rename' })).toBeInTheDocument();
  });

  it('offers a download of the original', async () => {
    serve(imageItem());
    renderWithProviders(<ContentDetail id={ID} />);
    expect(await screen.findByRole('link', { name: 'Download' })).toHaveAttribute('href', `/api/content/${ID}/file`);
  });
});

describe('content detail: generated text', () => {
  it('generates a missing summary and shows it with a link to the new item', async () => {
    const summary = textItem({
      id: '0190a000-0000-7000-8000-0000000000d1',
      title: 'Summary of Library notice',
      source: 'generated',
      sha256: 'ef'.repeat(32),
      file_url: '/api/content/0190a000-0000-7000-8000-0000000000d1/file',
      generation: { kind: 'summary', generated_from: [ID], parameters: {}, provenance: [], processing_ms: 900 },
    } as Partial<Item>);
    let made = false;
    const api = serve(mediaItem('audio'), {
      'GET /api/content': () => ({ items: made ? [summary] : [] }),
      'POST /api/generate/summary': () => {
        made = true;
        return jsonResponse(201, summary);
      },
      'GET /api/content/{id}/file': () => new Response('A notice about opening hours.', { status: 200 }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    const panel = await screen.findByRole('region', { name: 'Summary' });
    await user.click(await within(panel).findByRole('button', { name: 'Generate summary' }));
    expect(api.calls('POST /api/generate/summary')[0]?.body).toEqual({ content_id: ID });
    expect(await within(panel).findByText('A notice about opening hours.')).toBeInTheDocument();
    expect(within(panel).getByRole('link', { name: /Summary of Library notice/ })).toHaveAttribute('href', `/content/${summary.id}`);
    const outputs = screen.getByRole('region', { name: 'Made from this' });
    expect(await within(outputs).findByRole('link', { name: /Summary of Library notice/ })).toBeInTheDocument();
  });

  it('explains why a summary could not be made', async () => {
    serve(mediaItem('audio'), {
      'POST /api/generate/summary': () => apiError(409, 'analysis_pending', 'a long recording waits for its analysis'),
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    const panel = await screen.findByRole('region', { name: 'Summary' });
    await user.click(await within(panel).findByRole('button', { name: 'Generate summary' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent('still being analysed');
  });

  it('shows the description from the analysis without a button', async () => {
    serve(imageItem());
    renderWithProviders(<ContentDetail id={ID} />);
    const panel = await screen.findByRole('region', { name: 'What the model sees' });
    expect(within(panel).getByText('A white sign that reads open daily from nine.')).toBeInTheDocument();
    expect(within(panel).getByText(/written during analysis by qwen/i)).toBeInTheDocument();
    expect(within(panel).queryByRole('button')).not.toBeInTheDocument();
  });
});

describe('content detail: processing', () => {
  it('follows the running job live', async () => {
    const running = job({ status: 'running', stage: 'classifying', percent: 20, processing_ms: null } as never);
    serve(imageItem({ analysis: { state: 'pending' } } as Partial<Item>), {
      'GET /api/content/{id}/jobs': () => ({ jobs: [running] }),
    });
    const { socket, push } = fakeSocket();
    renderWithProviders(
      <LiveContext value={socket}>
        <ContentDetail id={ID} />
      </LiveContext>,
    );
    const bar = await screen.findByRole('progressbar', { name: 'Analysis' });
    expect(bar).toHaveAttribute('aria-valuenow', '20');
    act(() => push({ event_type: 'job.progress', stream: `job-${running.id}`, payload: { attempt: 1, stage: 'reading text', percent: 45 } }));
    expect(bar).toHaveAttribute('aria-valuenow', '45');
    expect(bar).toHaveAttribute('aria-valuetext', 'Reading text, 45%');
    // Another job's progress is not ours.
    act(() => push({ event_type: 'job.progress', stream: 'job-other', payload: { attempt: 1, stage: 'embedding', percent: 90 } }));
    expect(bar).toHaveAttribute('aria-valuenow', '45');
    expect(within(screen.getByRole('region', { name: 'Labels' })).getByRole('status')).toBeInTheDocument();
  });

  it('shows why processing gave up', async () => {
    serve(imageItem({ analysis: { state: 'failed', error: 'corrupt_image' } } as Partial<Item>), {
      'GET /api/content/{id}/jobs': () => ({
        jobs: [job({ status: 'dead_lettered', error_code: 'corrupt_image', error: 'the image cannot be decoded', attempts: 3 } as never)],
      }),
    });
    renderWithProviders(<ContentDetail id={ID} />);
    const panel = await screen.findByRole('region', { name: 'Processing' });
    expect(await within(panel).findByText(/processing gave up: the image cannot be decoded/i)).toBeInTheDocument();
    expect(within(panel).getByText('Failed')).toBeInTheDocument();
  });
});

describe('content detail: missing items', () => {
  it('has a friendly state for an item that is not there', async () => {
    mockApi({ 'GET /api/content/{id}': () => apiError(404, 'not_found', 'no such item') });
    renderWithProviders(<ContentDetail id={ID} />);
    expect(await screen.findByRole('heading', { name: 'This item is not here' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Back to the library' })).toHaveAttribute('href', '/library');
  });

  it('offers a retry when the server fails', async () => {
    let fail = true;
    mockApi({
      'GET /api/content/{id}': () => (fail ? apiError(500, 'internal_error') : imageItem()),
      'GET /api/content/tags': () => ({ tags: [] }),
      'GET /api/content/{id}/jobs': () => ({ jobs: [] }),
      'GET /api/content': () => ({ items: [] }),
    });
    const user = userEvent.setup();
    renderWithProviders(<ContentDetail id={ID} />);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Something went wrong on our side');
    fail = false;
    await user.click(within(alert).getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Shop sign' })).toBeInTheDocument();
  });
});
