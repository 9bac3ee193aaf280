/**
 * The library's filters live in the address (`/library?modality=image&tag=garden&view=list`), so a
 * filtered view can be reloaded, shared and navigated back to. Words go to the search page
 * (`/search?q=…`, src/pages/search), which takes the same modality, tag and days.
 */
import type { Modality } from './types';

export type SortChoice = 'newest' | 'oldest' | 'updated' | 'title' | 'largest';
export type ViewMode = 'grid' | 'list';

export interface Filters {
  modality: Modality | '';
  tag: string;
  /** `YYYY-MM-DD` (local day), inclusive. */
  from: string;
  /** `YYYY-MM-DD` (local day), inclusive. */
  to: string;
  sort: SortChoice;
  view: ViewMode;
  trash: boolean;
}

export const MODALITIES: { value: Modality | ''; label: string }[] = [
  { value: '', label: 'All' },
  { value: 'text', label: 'Notes & text' },
  { value: 'image', label: 'Images' },
  { value: 'audio', label: 'Audio' },
  { value: 'video', label: 'Video' },
];

interface SortOption {
  value: SortChoice;
  label: string;
  sort: string;
  order: 'asc' | 'desc';
}

const NEWEST: SortOption = { value: 'newest', label: 'Newest first', sort: 'created_at', order: 'desc' };

export const SORTS: SortOption[] = [
  NEWEST,
  { value: 'oldest', label: 'Oldest first', sort: 'created_at', order: 'asc' },
  { value: 'updated', label: 'Recently changed', sort: 'updated_at', order: 'desc' },
  { value: 'title', label: 'Title A–Z', sort: 'title', order: 'asc' },
  { value: 'largest', label: 'Largest first', sort: 'size', order: 'desc' },
];

const MODALITY_VALUES = new Set<string>(['text', 'image', 'audio', 'video']);
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function readFilters(params: URLSearchParams): Filters {
  const modality = params.get('modality') ?? '';
  const sort = params.get('sort') ?? '';
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  return {
    modality: MODALITY_VALUES.has(modality) ? (modality as Modality) : '',
    tag: params.get('tag') ?? '',
    from: DAY.test(from) ? from : '',
    to: DAY.test(to) ? to : '',
    sort: SORTS.some((s) => s.value === sort) ? (sort as SortChoice) : 'newest',
    view: params.get('view') === 'list' ? 'list' : 'grid',
    trash: params.get('trash') === '1',
  };
}

/** The address's parameters for `filters`, leaving defaults out. */
export function writeFilters(filters: Filters): URLSearchParams {
  const p = new URLSearchParams();
  if (filters.trash) p.set('trash', '1');
  if (filters.modality) p.set('modality', filters.modality);
  if (filters.tag.trim()) p.set('tag', filters.tag.trim());
  if (filters.from) p.set('from', filters.from);
  if (filters.to) p.set('to', filters.to);
  if (filters.sort !== 'newest') p.set('sort', filters.sort);
  if (filters.view !== 'grid') p.set('view', filters.view);
  return p;
}

/** Local midnight of a `YYYY-MM-DD` day, `days` later, as RFC 3339. */
export function dayStart(day: string, days = 0): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(y, m - 1, d + days).toISOString();
}

/** The `GET /api/content` query for `filters` (without the cursor). */
export function listQuery(filters: Filters) {
  const sort = SORTS.find((s) => s.value === filters.sort) ?? NEWEST;
  return {
    ...(filters.modality ? { modality: filters.modality } : {}),
    ...(filters.tag.trim() ? { tag: filters.tag.trim() } : {}),
    ...(filters.from ? { from: dayStart(filters.from) } : {}),
    // The `to` day is inclusive: items created before the next day's midnight.
    ...(filters.to ? { to: dayStart(filters.to, 1) } : {}),
    ...(filters.trash ? { deleted: true } : {}),
    sort: sort.sort,
    order: sort.order,
  };
}

/** Whether any filter narrows the list (the empty state then says "no matches"). */
export function isFiltered(f: Filters): boolean {
  return Boolean(f.modality || f.tag.trim() || f.from || f.to);
}
