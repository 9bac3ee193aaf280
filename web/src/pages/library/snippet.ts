import type { QueryClient } from '@tanstack/react-query';

import { queryKeys } from '../../api/queryKeys';
import { authFetch } from '../../api/session';
import type { Item } from './types';

const SNIPPET_BYTES = 600;

/** Text items shown with their first lines when the list arrives (about the first screen). */
const FIRST_SCREEN = 8;

/** The first bytes of a text item, as text (a Range request: the file may be large). */
export async function fetchSnippet(item: Pick<Item, 'id'>): Promise<string> {
  const r = await authFetch(`/api/content/${item.id}/file`, { headers: { Range: `bytes=0-${SNIPPET_BYTES - 1}` } });
  if (!r.ok) return '';
  const bytes = new Uint8Array(await r.arrayBuffer()).slice(0, SNIPPET_BYTES);
  // A cut may split a character: the decoder's replacement at the end is dropped.
  return new TextDecoder('utf-8').decode(bytes).replace(/\uFFFD+$/, '').trim();
}

/** The query of an item's snippet (its bytes never change, so neither does the answer). */
export function snippetQuery(item: Pick<Item, 'id' | 'sha256'>) {
  return {
    queryKey: queryKeys.content.snippet(item.sha256),
    queryFn: () => fetchSnippet(item),
    staleTime: Infinity,
    gcTime: 10 * 60_000,
  };
}

/** Whether a card shows the start of the item's text (no summary yet). */
export function needsSnippet(item: Item): boolean {
  const result = item.analysis.result;
  return item.modality === 'text' && !(result && 'summary' in result && typeof result.summary === 'string');
}

/**
 * Starts fetching the snippets of the first screen's text items as soon as the list is known,
 * so that the cards' text comes with (or right after) the cards, not one round trip after them.
 * Each request starts in a task of its own: starting a request costs a few milliseconds of
 * script on a phone, and eight of them in a row made one long task as the list arrived.
 */
export function prefetchFirstSnippets(client: QueryClient, items: Item[]): void {
  for (const item of items.slice(0, FIRST_SCREEN)) {
    if (needsSnippet(item)) setTimeout(() => void client.prefetchQuery(snippetQuery(item)), 0);
  }
}
