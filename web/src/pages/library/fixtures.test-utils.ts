import type { Item } from './types';

let n = 0;

/** A library item as the API returns it, with `over` applied. */
export function makeItem(over: Partial<Item> = {}): Item {
  n++;
  const id = over.id ?? `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
  return {
    id,
    owner: '0190a000-0000-7000-8000-00000000aaaa',
    title: `Item ${n}`,
    filename: null,
    description: null,
    modality: 'image',
    mime: 'image/png',
    extension: 'png',
    size: 2048,
    sha256: `sha-${n}`,
    media: { has_audio: false, has_video: false },
    tags: [],
    source: 'upload',
    created_at: '2026-01-02T10:00:00Z',
    updated_at: '2026-01-02T10:00:00Z',
    previews: { state: 'ready', images: [] },
    analysis: { state: 'ready' },
    file_url: `/api/content/${id}/file`,
    version: 1,
    ...over,
  } as Item;
}
