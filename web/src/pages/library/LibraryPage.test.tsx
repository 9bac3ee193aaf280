import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { LiveContext } from '../../live/LiveContext';
import type { LiveEvent } from '../../live/protocol';
import type { LiveSocket } from '../../live/socket';
import { apiError, jsonResponse, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import { makeItem } from './fixtures.test-utils';
import LibraryPage from './LibraryPage';
import type { Item } from './types';

beforeEach(() => {
  resetSessionForTests();
  vi.unstubAllGlobals();
});

const lastList = (api: ReturnType<typeof mockApi>) => String(api.calls('GET /api/content').at(-1)?.request.url);

const page = (items: Item[], next_cursor?: string) => ({ items, ...(next_cursor ? { next_cursor } : {}) });

/** A socket whose events the test pushes. */
function fakeSocket() {
  const subs = new Set<{ filter: unknown; handler: (e: LiveEvent) => void }>();
  const socket = {
    subscribe: (filter: unknown, handler: (e: LiveEvent) => void) => {
      const s = { filter, handler };
      subs.add(s);
      return () => subs.delete(s);
    },
    onStatus: () => () => undefined,
    getStatus: () => 'live',
  } as unknown as LiveSocket;
  let position = 0;
  const emit = (stream: string, event_type: string, payload: Record<string, unknown>) =>
    act(() => {
      position++;
      const e = { position, event_id: `e${position}`, stream, stream_version: position, event_type, schema_version: 1, payload, recorded_at: '2026-01-01T00:00:00Z' };
      subs.forEach((s) => (s.filter === 'jobs' && event_type.startsWith('job.') ? s.handler(e) : undefined));
    });
  return { socket, emit };
}

/** XMLHttpRequest stand-in answering uploads with `respond`. */
function stubXhr(respond: (req: { method: string; url: string; headers: Record<string, string>; body: unknown }) => { status: number; body?: unknown; headers?: Record<string, string> }) {
  const sent: { method: string; url: string; headers: Record<string, string>; body: unknown }[] = [];
  class FakeXhr {
    private req = { method: '', url: '', headers: {} as Record<string, string>, body: undefined as unknown };
    private listeners: Record<string, (() => void)[]> = {};
    private res: { status: number; body?: unknown; headers?: Record<string, string> } = { status: 0 };
    upload = { addEventListener: (_t: string, l: (e: ProgressEvent) => void) => (this.progress = l) };
    withCredentials = false;
    private progress: ((e: ProgressEvent) => void) | undefined;
    get status() {
      return this.res.status;
    }
    get responseText() {
      return this.res.body === undefined ? '' : JSON.stringify(this.res.body);
    }
    open(method: string, url: string) {
      this.req.method = method;
      this.req.url = url;
    }
    setRequestHeader(k: string, v: string) {
      this.req.headers[k] = v;
    }
    getResponseHeader(n: string) {
      return this.res.headers?.[n] ?? null;
    }
    addEventListener(t: string, l: () => void) {
      (this.listeners[t] ??= []).push(l);
    }
    abort() {
      this.listeners.abort?.forEach((l) => l());
    }
    send(body: unknown) {
      this.req.body = body;
      sent.push(this.req);
      setTimeout(() => {
        this.progress?.({ lengthComputable: true, loaded: 5, total: 10 } as ProgressEvent);
        setTimeout(() => {
          this.res = respond(this.req);
          this.listeners.load?.forEach((l) => l());
        }, 10);
      }, 0);
    }
  }
  vi.stubGlobal('XMLHttpRequest', FakeXhr);
  return sent;
}

describe('Library page', () => {
  it('shows each kind of item with its preview and a link to its page', async () => {
    const image = makeItem({
      title: 'Sign',
      filename: 'sign.png',
      previews: { state: 'ready', images: [{ name: 'thumb-256', mime: 'image/jpeg', width: 256, height: 71, url: '/api/content/x/previews/thumb-256' }] },
    });
    const audio = makeItem({ title: 'Notice', modality: 'audio', media: { duration_secs: 65, has_audio: true, has_video: false }, previews: { state: 'ready', images: [], waveform: Array.from({ length: 512 }, (_, i) => (i % 10) / 10) } });
    const video = makeItem({ title: 'Tour', modality: 'video', media: { duration_secs: 6, has_audio: true, has_video: true }, previews: { state: 'ready', images: [{ name: 'poster', mime: 'image/jpeg', width: 640, height: 360, url: '/p' }] } });
    const note = makeItem({ title: 'Garden log', modality: 'text', previews: { state: 'none', images: [] }, analysis: { state: 'ready', result: JSON.parse('{"summary":"Roses were watered."}') }, tags: ['garden'] });
    mockApi({ 'GET /api/content': () => page([image, audio, video, note]) });
    renderWithProviders(<LibraryPage />, { path: '/library' });

    const card = (await screen.findByRole('article', { name: 'Sign' }));
    expect(within(card).getByRole('link', { name: 'Sign' })).toHaveAttribute('href', `/content/${image.id}`);
    expect(within(card).getByText('sign.png')).toBeInTheDocument();
    expect(within(card).getByText('Ready')).toBeInTheDocument();
    const img = card.querySelector('img');
    expect(img).toHaveAttribute('loading', 'lazy');
    expect(img).toHaveAttribute('width', '256');
    expect(img).toHaveAttribute('height', '71');

    const audioCard = screen.getByRole('article', { name: 'Notice' });
    expect(audioCard.querySelector('svg[data-bars="64"] path')).toBeInTheDocument();
    expect(within(audioCard).getByText('1:05')).toBeInTheDocument();
    expect(within(screen.getByRole('article', { name: 'Tour' })).getByText('0:06')).toBeInTheDocument();
    const noteCard = screen.getByRole('article', { name: 'Garden log' });
    expect(within(noteCard).getByText('Roses were watered.')).toBeInTheDocument();
    expect(within(noteCard).getByText('#garden')).toBeInTheDocument();
  });

  it('filters and sorts through the list query, and searches on the search page', async () => {
    const api = mockApi({ 'GET /api/content': () => page([makeItem({ title: 'One' })]) });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<LibraryPage />, { path: '/library' });
    await screen.findByRole('article', { name: 'One' });

    await user.click(screen.getByRole('button', { name: 'Images' }));
    await waitFor(() => expect(new URL(lastList(api)).searchParams.get('modality')).toBe('image'));
    expect(router.state.location.search).toContain('modality=image');

    await user.selectOptions(screen.getByRole('combobox', { name: 'Sort' }), 'Title A–Z');
    await waitFor(() => {
      const q = new URL(lastList(api)).searchParams;
      expect([q.get('sort'), q.get('order')]).toEqual(['title', 'asc']);
    });

    // Words are searched by words and by meaning: the search page, with the type chosen here.
    await user.type(screen.getByRole('searchbox', { name: 'Search the library' }), 'roses{Enter}');
    await waitFor(() => expect(router.state.location.pathname).toBe('/search'));
    expect(Object.fromEntries(new URLSearchParams(router.state.location.search))).toEqual({ q: 'roses', modality: 'image' });
    expect(api.calls('GET /api/content').some((c) => new URL(c.request.url).searchParams.has('q'))).toBe(false);
  });

  it('sends an old address with words to the search page', async () => {
    mockApi({ 'GET /api/content': () => page([]) });
    const { router } = renderWithProviders(<LibraryPage />, { path: '/library?q=roses&tag=garden&view=list' });
    await waitFor(() => expect(router.state.location.pathname).toBe('/search'));
    expect(router.state.location.search).toBe('?q=roses&tag=garden');
  });

  it('loads the next page with the cursor', async () => {
    const api = mockApi({
      'GET /api/content': ({ request }) =>
        new URL(request.url).searchParams.get('cursor') === 'c2' ? page([makeItem({ title: 'Second page' })]) : page([makeItem({ title: 'First page' })], 'c2'),
    });
    const user = userEvent.setup();
    renderWithProviders(<LibraryPage />, { path: '/library' });
    await screen.findByRole('article', { name: 'First page' });
    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByRole('article', { name: 'Second page' })).toBeInTheDocument();
    expect(screen.getByRole('article', { name: 'First page' })).toBeInTheDocument();
    expect(api.calls('GET /api/content')).toHaveLength(2);
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
  });

  it('says the library is empty, and when nothing matches', async () => {
    mockApi({ 'GET /api/content': () => page([]) });
    renderWithProviders(<LibraryPage />, { path: '/library' });
    expect(await screen.findByRole('heading', { name: 'Your library is empty' })).toBeInTheDocument();
  });

  it('shows a failed list with a retry', async () => {
    let fail = true;
    mockApi({ 'GET /api/content': () => (fail ? apiError(500, 'internal_error') : page([makeItem({ title: 'Back' })])) });
    const user = userEvent.setup();
    renderWithProviders(<LibraryPage />, { path: '/library' });
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not load your library');
    fail = false;
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('article', { name: 'Back' })).toBeInTheDocument();
  });

  it('uploads files with their own progress and shows the API error in plain words', async () => {
    const items: Item[] = [];
    mockApi({ 'GET /api/content': () => page(items) });
    const sent = stubXhr((req) => {
      const file = (req.body as FormData).get('file') as File;
      if (file.name === 'big.png') return { status: 403, body: { error: { code: 'quota_exceeded', message: 'quota', field: 'uploads_per_day' } } };
      const item = makeItem({ title: 'ok', filename: file.name, analysis: { state: 'pending' } });
      items.unshift(item);
      return { status: 201, body: item };
    });
    const user = userEvent.setup();
    const { container } = renderWithProviders(<LibraryPage />, { path: '/library' });
    await screen.findByRole('heading', { name: 'Your library is empty' });

    const input = container.querySelector<HTMLInputElement>('input[type="file"]') as HTMLInputElement;
    await user.upload(input, [new File(['hello'], 'ok.png', { type: 'image/png' }), new File(['x'], 'big.png', { type: 'image/png' })]);

    const tray = screen.getByRole('region', { name: 'Uploads' });
    const alert = await within(tray).findByRole('alert');
    expect(alert).toHaveTextContent(/uploads per day/);
    expect(await screen.findByRole('article', { name: 'ok' })).toBeInTheDocument();
    expect(within(tray).getByText('Uploaded')).toBeInTheDocument();
    expect(sent.map((s) => s.headers['Idempotency-Key'])).toHaveLength(2);
    expect(new Set(sent.map((s) => s.headers['Idempotency-Key'])).size).toBe(2);

    // A retry sends the same idempotency key.
    await user.click(within(tray).getByRole('button', { name: 'Retry big.png' }));
    await waitFor(() => expect(sent).toHaveLength(3));
    expect(sent[2]?.headers['Idempotency-Key']).toBe(sent[1]?.headers['Idempotency-Key']);
  });

  it('shows live per-step progress, then Ready', async () => {
    const item = makeItem({ title: 'Notice', modality: 'audio', analysis: { state: 'pending' }, previews: { state: 'pending', images: [] } });
    let current = item;
    mockApi({ 'GET /api/content': () => page([current]) });
    const live = fakeSocket();
    const { queryClient } = renderWithProviders(
      <LiveContext value={live.socket}>
        <LibraryPage />
      </LiveContext>,
      { path: '/library' },
    );
    const card = await screen.findByRole('article', { name: 'Notice' });
    expect(within(card).getByText('Queued for processing')).toBeInTheDocument();

    live.emit('job-j1', 'job.requested', { content_id: item.id });
    live.emit('job-j1', 'job.started', { attempt: 1, node: 'n' });
    live.emit('job-j1', 'job.progress', { attempt: 1, stage: 'finding speech', percent: 20 });
    live.emit('job-j1', 'job.progress', { attempt: 1, stage: 'transcribing', percent: 40 });
    // The card shows the progress once React has rendered the events (later on a busy machine).
    const bar = await within(card).findByRole('progressbar');
    await waitFor(() => expect(bar).toHaveAttribute('aria-valuenow', '40'));
    expect(bar).toHaveAttribute('aria-valuetext', 'Transcribing, step 3 of 5, 40%');
    expect(bar).toHaveAccessibleName(/Transcribing/);
    expect(within(card).getByText('Speech found')).toBeInTheDocument();
    expect(within(card).queryByText(/\bready\b/i)).not.toBeInTheDocument();

    current = { ...item, analysis: { state: 'ready' }, version: 2 };
    live.emit('job-j1', 'job.succeeded', { attempt: 1 });
    await act(() => queryClient.invalidateQueries({ queryKey: ['content'] }));
    await waitFor(() => expect(within(card).getByText('Ready')).toBeInTheDocument());
    expect(within(card).queryByRole('progressbar')).not.toBeInTheDocument();
  });

  it('moves an item to the Trash with an undo', async () => {
    const item = makeItem({ title: 'Receipt' });
    let deleted = false;
    const api = mockApi({
      'GET /api/content': () => page(deleted ? [] : [item]),
      'DELETE /api/content/{id}': () => {
        deleted = true;
        return null;
      },
      'POST /api/content/{id}/restore': () => {
        deleted = false;
        return item;
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<LibraryPage />, { path: '/library' });
    await user.click(await screen.findByRole('button', { name: 'Actions for Receipt' }));
    await user.click(screen.getByRole('menuitem', { name: 'Move to Trash' }));
    await waitFor(() => expect(screen.queryByRole('article', { name: 'Receipt' })).not.toBeInTheDocument());
    expect(api.calls('DELETE /api/content/{id}')[0]?.request.url).toContain(item.id);

    await user.click(await screen.findByRole('button', { name: 'Undo' }));
    await waitFor(() => expect(api.calls('POST /api/content/{id}/restore')).toHaveLength(1));
    expect(await screen.findByRole('article', { name: 'Receipt' })).toBeInTheDocument();
  });

  it('lists the Trash and restores from it', async () => {
    const item = makeItem({ title: 'Old scan', deleted_at: '2026-01-03T00:00:00Z', purge_after: new Date(Date.now() + 5 * 86_400_000).toISOString() });
    const api = mockApi({
      'GET /api/content': ({ request }) => page(new URL(request.url).searchParams.get('deleted') === 'true' ? [item] : []),
      'POST /api/content/{id}/restore': () => apiError(410, 'restore_expired', 'the restore period is over'),
    });
    const user = userEvent.setup();
    renderWithProviders(<LibraryPage />, { path: '/library?trash=1' });
    const card = await screen.findByRole('article', { name: 'Old scan' });
    expect(within(card).getByText('Deleted for good in 5 days')).toBeInTheDocument();
    await user.click(within(card).getByRole('button', { name: 'Restore Old scan' }));
    expect(await screen.findByText('the restore period is over')).toBeInTheDocument();
    expect(api.calls('POST /api/content/{id}/restore')).toHaveLength(1);
  });

  it('renames and retags an item', async () => {
    const item = makeItem({ title: 'IMG_0001', tags: ['old'] });
    const api = mockApi({
      'GET /api/content': () => page([item]),
      'PATCH /api/content/{id}': ({ body }) => ({ ...item, title: (body as { title: string }).title, tags: ['new'] }),
    });
    const user = userEvent.setup();
    renderWithProviders(<LibraryPage />, { path: '/library' });
    await user.click(await screen.findByRole('button', { name: 'Actions for IMG_0001' }));
    await user.click(screen.getByRole('menuitem', { name: 'Rename…' }));
    const dialog = await screen.findByRole('dialog', { name: 'Edit details' });
    const title = within(dialog).getByLabelText('Title');
    await user.clear(title);
    await user.type(title, 'Beach');
    const tags = within(dialog).getByLabelText('Tags');
    await user.clear(tags);
    await user.type(tags, 'new');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(api.calls('PATCH /api/content/{id}')).toHaveLength(1));
    expect(api.calls('PATCH /api/content/{id}')[0]?.body).toEqual({ title: 'Beach', add_tags: ['new'], remove_tags: ['old'] });
  });

  it('writes a note from pasted text', async () => {
    const api = mockApi({
      'GET /api/content': () => page([]),
      'POST /api/content/notes': ({ body }) => jsonResponse(201, makeItem({ title: (body as { title: string }).title, modality: 'text' })),
    });
    const user = userEvent.setup();
    renderWithProviders(<LibraryPage />, { path: '/library' });
    await screen.findByRole('heading', { name: 'Your library is empty' });
    const paste = new Event('paste', { bubbles: true }) as ClipboardEvent;
    Object.defineProperty(paste, 'clipboardData', { value: { files: [], getData: () => 'Groceries\nmilk, eggs' } });
    act(() => void document.body.dispatchEvent(paste));
    const dialog = await screen.findByRole('dialog', { name: 'New note' });
    expect(within(dialog).getByLabelText('Title')).toHaveValue('Groceries');
    await user.click(within(dialog).getByRole('button', { name: 'Save note' }));
    await waitFor(() => expect(api.calls('POST /api/content/notes')).toHaveLength(1));
    expect(api.calls('POST /api/content/notes')[0]?.body).toEqual({ title: 'Groceries', text: 'Groceries\nmilk, eggs', tags: [] });
    expect(api.calls('POST /api/content/notes')[0]?.request.headers.get('Idempotency-Key')).toBeTruthy();
  });
});
