/**
 * The search lives in the address (`/search?q=red+bicycle&modality=image&tag=trips`), so results
 * can be linked, reloaded and navigated back and forward. Days are `YYYY-MM-DD` (local), as in
 * the library's filters, which hand theirs over when the library's search box is used.
 */
import { dayStart } from '../library/filters';
import type { Modality } from '../library/types';

export type Ranking = 'hybrid' | 'vector' | 'words';

export interface SearchFilters {
  q: string;
  modality: Modality | '';
  tag: string;
  /** `YYYY-MM-DD` (local day), inclusive. */
  from: string;
  /** `YYYY-MM-DD` (local day), inclusive. */
  to: string;
  /** Only within this item. */
  item: string;
  ranking: Ranking;
}

/** The server takes at most this many characters. */
export const MAX_QUERY_CHARS = 500;

/** Items per page of results. */
export const SEARCH_PAGE_SIZE = 20;

export const SEARCH_MODALITIES: { value: Modality | ''; label: string }[] = [
  { value: '', label: 'All' },
  { value: 'text', label: 'Text' },
  { value: 'image', label: 'Images' },
  { value: 'audio', label: 'Audio' },
  { value: 'video', label: 'Video' },
];

const MODALITY_VALUES = new Set<string>(['text', 'image', 'audio', 'video']);
const RANKINGS = new Set<string>(['hybrid', 'vector', 'words']);
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function readSearch(params: URLSearchParams): SearchFilters {
  const modality = params.get('modality') ?? '';
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  const item = params.get('item') ?? '';
  const ranking = params.get('ranking') ?? '';
  return {
    q: params.get('q') ?? '',
    modality: MODALITY_VALUES.has(modality) ? (modality as Modality) : '',
    tag: (params.get('tag') ?? '').trim(),
    from: DAY.test(from) ? from : '',
    to: DAY.test(to) ? to : '',
    item: UUID.test(item) ? item : '',
    ranking: RANKINGS.has(ranking) ? (ranking as Ranking) : 'hybrid',
  };
}

/** The address's parameters for `filters`, leaving defaults out. */
export function writeSearch(filters: Partial<SearchFilters>): URLSearchParams {
  const p = new URLSearchParams();
  if (filters.q?.trim()) p.set('q', filters.q.trim());
  if (filters.modality) p.set('modality', filters.modality);
  if (filters.tag?.trim()) p.set('tag', filters.tag.trim());
  if (filters.from) p.set('from', filters.from);
  if (filters.to) p.set('to', filters.to);
  if (filters.item) p.set('item', filters.item);
  if (filters.ranking && filters.ranking !== 'hybrid') p.set('ranking', filters.ranking);
  return p;
}

/** `/search?…` for `filters`. */
export function searchHref(filters: Partial<SearchFilters>): string {
  const p = writeSearch(filters).toString();
  return p ? `/search?${p}` : '/search';
}

/** The `GET /api/search` query for `filters` (without the limit and the cursor). */
export function searchQuery(filters: SearchFilters) {
  return {
    q: filters.q.trim(),
    ...(filters.modality ? { modality: filters.modality } : {}),
    ...(filters.tag ? { tag: filters.tag } : {}),
    ...(filters.from ? { from: dayStart(filters.from) } : {}),
    // The `to` day is inclusive: items created before the next day's midnight.
    ...(filters.to ? { to: dayStart(filters.to, 1) } : {}),
    ...(filters.item ? { item: filters.item } : {}),
    ...(filters.ranking !== 'hybrid' ? { ranking: filters.ranking } : {}),
  };
}

/** Whether a filter besides the words narrows the search. */
export function isNarrowed(f: SearchFilters): boolean {
  return Boolean(f.modality || f.tag || f.from || f.to || f.item);
}
