import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { act } from 'react';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSessionForTests } from '../../api/session';
import { apiError, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import { makeItem } from '../library/fixtures.test-utils';
import type { Item } from '../library/types';
import SearchPage from './SearchPage';
import type { ConversationHits, Hit, ItemHits } from './searchQuery';

beforeEach(() => resetSessionForTests());

const hit = (over: Partial<Hit> & Pick<Hit, 'kind' | 'snippet'>): Hit => ({ by_meaning: true, by_words: true, ...over });
const group = (item: Item, hits: Hit[]): ItemHits => ({ item, score: 0.5, hits });

const audio = makeItem({ title: 'Library notice', modality: 'audio', media: { duration_secs: 12, has_audio: true, has_video: false } });
const sign = makeItem({ title: 'Shop sign', modality: 'image' });
const tour = makeItem({ title: 'Garden tour', modality: 'video' });
const notes = makeItem({ title: 'Meeting notes', modality: 'text', previews: { state: 'none', images: [] } });

const RESULTS = {
  items: [
    group(audio, [
      hit({ kind: 'segment', snippet: [{ text: 'The library opens at ' }, { text: 'nine', mark: true }, { text: ' in the morning.' }], at: { type: 'time', start: 7.4, end: 9.1 } }),
    ]),
    group(sign, [
      hit({ kind: 'ocr', snippet: [{ text: 'OPEN ' }, { text: 'NINE', mark: true }, { text: ' <b>daily</b>' }], at: { type: 'box', x: 40, y: 70, width: 360, height: 50.5 } }),
      hit({ kind: 'title', snippet: [{ text: 'Shop sign' }], by_words: false }),
    ]),
    group(tour, [hit({ kind: 'keyframe', snippet: [{ text: 'a clock showing nine' }], at: { type: 'keyframe', index: 2, time: 65 }, by_words: false })]),
    group(notes, [hit({ kind: 'paragraph', snippet: [{ text: 'We meet at ' }, { text: 'nine', mark: true }], at: { type: 'paragraph', start: 120, end: 348 } })]),
  ],
  next_cursor: 'c2',
};

const BOATS: ConversationHits = {
  id: '01900000-0000-7000-8000-0000000000c1',
  title: 'Boats',
  score: 0.0327,
  hits: [
    {
      message_id: '01900000-0000-7000-8000-0000000000a1',
      role: 'user',
      snippet: [{ text: 'Our sailing boat is called the Blue ' }, { text: 'Heron', mark: true }, { text: ', and it is moored at pier seven.' }],
      at: { type: 'paragraph', start: 22, end: 96 },
      sent_at: '2026-12-08T01:00:00Z',
      by_meaning: true,
      by_words: true,
    },
    {
      message_id: '01900000-0000-7000-8000-0000000000a2',
      role: 'assistant',
      snippet: [{ text: 'A grey wading bird by the water.' }],
      at: { type: 'paragraph', start: 0, end: 32 },
      sent_at: '2026-12-08T01:00:05Z',
      by_meaning: true,
      by_words: false,
    },
  ],
};

const lastSearch = (api: ReturnType<typeof mockApi>) => new URL(String(api.calls('GET /api/search').at(-1)?.request.url)).searchParams;

describe('Search page', () => {
  it('shows the results grouped by item, with marked words and links to each place', async () => {
    const more = makeItem({ title: 'Second page note', modality: 'text' });
    const api = mockApi({
      'GET /api/search': ({ request }) =>
        new URL(request.url).searchParams.get('cursor') === 'c2' ? { items: [group(more, [hit({ kind: 'title', snippet: [{ text: 'nine' }] })])] } : RESULTS,
    });
    const user = userEvent.setup();
    renderWithProviders(<SearchPage />, { path: '/search?q=nine' });

    const groups = await screen.findAllByRole('article');
    expect(groups.map((g) => within(g).getByRole('heading').textContent)).toEqual([
      'Library notice',
      'Shop sign',
      'Garden tour',
      'Meeting notes',
    ]);
    expect(Object.fromEntries(lastSearch(api))).toEqual({ q: 'nine', limit: '20' });
    const [a, s, t, n] = groups as [HTMLElement, HTMLElement, HTMLElement, HTMLElement];

    // Each group: the item's link, its kind, and a link per hit to the exact place.
    expect(within(a).getByRole('link', { name: 'Library notice' })).toHaveAttribute('href', `/content/${audio.id}`);
    expect(within(a).getByText('Audio')).toBeInTheDocument();
    expect(within(a).getByRole('link', { name: /^0:07 The library opens at nine/ })).toHaveAttribute('href', `/content/${audio.id}?t=7.4`);
    expect(within(s).getByRole('link', { name: /^in the picture OPEN NINE/ })).toHaveAttribute('href', `/content/${sign.id}?box=40,70,360,50.5`);
    expect(within(s).getByRole('link', { name: /^Title Shop sign/ })).toHaveAttribute('href', `/content/${sign.id}`);
    expect(within(t).getByRole('link', { name: /^1:05 a clock showing nine/ })).toHaveAttribute('href', `/content/${tour.id}?t=65`);
    expect(within(n).getByRole('link', { name: /^paragraph We meet at nine/ })).toHaveAttribute('href', `/content/${notes.id}?para=120-348`);
    expect(within(t).getByText(/similar in meaning/)).toBeInTheDocument();

    // Marked words are <mark>; the rest is text, never markup.
    expect([...document.querySelectorAll('mark')].map((m) => m.textContent)).toEqual(['nine', 'NINE', 'nine']);
    expect(within(s).getByText(/<b>daily<\/b>/)).toBeInTheDocument();
    expect(s.querySelector('b')).toBeNull();

    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByRole('article', { name: 'Second page note' })).toBeInTheDocument();
    expect(lastSearch(api).get('cursor')).toBe('c2');
    expect(screen.getAllByRole('article')).toHaveLength(5);
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
  });

  it('shows the conversations that match above the items, once however many pages load', async () => {
    const more = makeItem({ title: 'Second page note', modality: 'text' });
    mockApi({
      'GET /api/search': ({ request }) =>
        new URL(request.url).searchParams.get('cursor') === 'c2'
          ? { items: [group(more, [hit({ kind: 'title', snippet: [{ text: 'heron' }] })])] }
          : { items: [group(sign, [])], conversations: [BOATS], next_cursor: 'c2' },
    });
    const user = userEvent.setup();
    renderWithProviders(<SearchPage />, { path: '/search?q=heron' });

    const section = await screen.findByRole('region', { name: 'Conversations' });
    expect(within(section).getAllByRole('article')).toHaveLength(1);
    const boats = within(section).getByRole('article', { name: 'Boats' });
    expect(within(boats).getByRole('link', { name: 'Boats' })).toHaveAttribute('href', `/chat/${BOATS.id}`);
    const lines = within(within(boats).getByRole('list', { name: 'Found in “Boats”' })).getAllByRole('listitem');
    expect(lines.map((l) => l.textContent)).toEqual([
      expect.stringMatching(/^You Our sailing boat is called the Blue Heron, and it is moored at pier seven\./),
      expect.stringMatching(/^Assistant A grey wading bird by the water\.· similar in meaning/),
    ]);
    const [byYou] = lines as [HTMLElement, HTMLElement];
    expect(within(byYou).getByText('Heron').tagName).toBe('MARK');
    expect(byYou.querySelector('time')).toHaveAttribute('datetime', '2026-12-08T01:00:00Z');
    // The items follow, under their own heading.
    expect(screen.getByRole('heading', { name: 'In your library' })).toBeInTheDocument();
    expect(screen.getByRole('article', { name: 'Shop sign' })).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByRole('article', { name: 'Second page note' })).toBeInTheDocument();
    expect(screen.getAllByRole('region', { name: 'Conversations' })).toHaveLength(1);
    expect(screen.getAllByRole('article', { name: 'Boats' })).toHaveLength(1);
  });

  it('does not say nothing was found when only conversations match', async () => {
    mockApi({ 'GET /api/search': () => ({ items: [], conversations: [BOATS] }) });
    renderWithProviders(<SearchPage />, { path: '/search?q=heron' });
    const section = await screen.findByRole('region', { name: 'Conversations' });
    expect(within(section).getByRole('link', { name: 'Boats' })).toHaveAttribute('href', `/chat/${BOATS.id}`);
    expect(within(section).getByText('You')).toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: /Nothing found/ })).not.toBeInTheDocument();
    expect(screen.queryByRole('list', { name: 'Results for “heron”' })).not.toBeInTheDocument();
  });

  it('searches what is typed and each type, in the address, with back and forward', async () => {
    const api = mockApi({ 'GET /api/search': () => ({ items: [group(sign, [])] }) });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SearchPage />, { path: '/search?q=nine' });
    await screen.findByRole('article', { name: 'Shop sign' });

    const box = screen.getByRole('searchbox', { name: 'Search your library' });
    expect(box).toHaveValue('nine');
    await user.clear(box);
    await user.type(box, 'red bicycle{Enter}');
    await waitFor(() => expect(lastSearch(api).get('q')).toBe('red bicycle'));
    await user.click(screen.getByRole('button', { name: 'Images' }));
    await waitFor(() => expect(lastSearch(api).get('modality')).toBe('image'));
    expect(router.state.location.search).toBe('?q=red+bicycle&modality=image');
    expect(screen.getByRole('button', { name: 'Images' })).toHaveAttribute('aria-pressed', 'true');

    await act(() => router.navigate(-2));
    expect(router.state.location.search).toBe('?q=nine');
    expect(screen.getByRole('searchbox', { name: 'Search your library' })).toHaveValue('nine');
    expect(screen.getByRole('button', { name: 'All' })).toHaveAttribute('aria-pressed', 'true');
  });

  it('takes the filters handed over by the library, each removable', async () => {
    const api = mockApi({ 'GET /api/search': () => ({ items: [group(sign, [])] }) });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SearchPage />, { path: '/search?q=nine&tag=shop&from=2026-01-01' });
    await screen.findByRole('article', { name: 'Shop sign' });
    const q = lastSearch(api);
    expect(q.get('tag')).toBe('shop');
    expect(new Date(String(q.get('from'))).getDate()).toBe(1);
    await user.click(screen.getByRole('button', { name: 'Remove the filter Tag: shop' }));
    expect(router.state.location.search).toBe('?q=nine&from=2026-01-01');
  });

  it('asks for words before searching', async () => {
    const api = mockApi({ 'GET /api/search': () => RESULTS });
    renderWithProviders(<SearchPage />, { path: '/search' });
    expect(await screen.findByRole('heading', { name: 'Search your library' })).toBeInTheDocument();
    expect(screen.getByRole('searchbox', { name: 'Search your library' })).toHaveFocus();
    expect(api.calls('GET /api/search')).toHaveLength(0);
  });

  it('says when nothing was found', async () => {
    mockApi({ 'GET /api/search': () => ({ items: [] }) });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SearchPage />, { path: '/search?q=%3F%21&modality=audio' });
    expect(await screen.findByRole('heading', { name: 'Nothing found for “?!”' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    expect(router.state.location.search).toBe('?q=%3F%21');
  });

  it('shows a failed search in plain words, and offers words only without the model', async () => {
    const api = mockApi({
      'GET /api/search': ({ request }) =>
        new URL(request.url).searchParams.get('ranking') === 'words' ? { items: [group(sign, [])] } : apiError(503, 'model_unavailable', 'the embedding model is not loaded'),
    });
    const user = userEvent.setup();
    const { router } = renderWithProviders(<SearchPage />, { path: '/search?q=nine' });
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Could not search');
    expect(alert).toHaveTextContent('Searching by meaning is not available on this server right now.');
    await user.click(within(alert).getByRole('button', { name: 'Search by words only' }));
    expect(await screen.findByRole('article', { name: 'Shop sign' })).toBeInTheDocument();
    expect(router.state.location.search).toBe('?q=nine&ranking=words');
    expect(lastSearch(api).get('ranking')).toBe('words');
    expect(screen.getByText('By words only')).toBeInTheDocument();
  });

  it('names a refused filter', async () => {
    mockApi({ 'GET /api/search': () => apiError(400, 'invalid_query', '`to` must be later than `from`', 'to') });
    renderWithProviders(<SearchPage />, { path: '/search?q=nine&from=2026-02-01&to=2026-01-01' });
    expect(await screen.findByRole('alert')).toHaveTextContent('The to date filter is not valid.');
  });
});
