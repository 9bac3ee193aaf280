import { keepPreviousData, useInfiniteQuery, useQueryClient, type InfiniteData, type QueryClient } from '@tanstack/react-query';
import { startTransition, useDeferredValue, useEffect, useMemo, useState } from 'react';

import { queryKeys } from '../../api/queryKeys';
import type { Filters } from './filters';
import { libraryListOptions } from './listQuery';
import type { Item, ItemPage } from './types';

export { PAGE_SIZE, FIRST_PAGE_SIZE } from './listQuery';

/** Cards on a phone's first screen, and some (two columns of about three rows). */
const FIRST_SCREEN_CARDS = 8;

/**
 * The library list for `filters`, a page at a time (cursor pagination). `items` follow the data
 * at a lower priority (a deferred value): a page of cards renders in slices between which the
 * browser stays responsive, instead of in one long task; `isPending` holds until they show.
 */
let firstOfVisit = true;

export function useLibrary(filters: Filters) {
  // On the visit's first page, the frame (header, toolbar) is shown first and the cards right
  // after, in a separate render, so that neither makes one long task with the other.
  const [cardsLater] = useState(() => {
    const later = firstOfVisit;
    firstOfVisit = false;
    return later;
  });
  const [cardsReady, setCardsReady] = useState(!cardsLater);
  useEffect(() => {
    if (!cardsReady) startTransition(() => setCardsReady(true));
  }, [cardsReady]);
  const result = useInfiniteQuery({
    ...libraryListOptions(filters),
    // A new filter keeps showing the old results until the new ones arrive: no flash, no jump.
    placeholderData: keepPreviousData,
  });
  const data = useDeferredValue(cardsReady ? result.data : undefined, undefined);
  const allItems = useMemo(() => data?.pages.flatMap((p) => p.items) ?? [], [data]);
  // ...and of those cards, a phone's first screen is committed first, the rest right after (a
  // transition in a later task): each commit, and the styling that follows it, is then short.
  const [limit, setLimit] = useState(cardsLater ? FIRST_SCREEN_CARDS : Infinity);
  const partial = allItems.length > limit;
  useEffect(() => {
    if (!partial) return;
    const t = setTimeout(() => startTransition(() => setLimit(Infinity)), 0);
    return () => clearTimeout(t);
  }, [partial]);
  const items = useMemo(() => (partial ? allItems.slice(0, limit) : allItems), [allItems, partial, limit]);
  const isPending = result.isPending || (result.data !== undefined && data === undefined);
  // A page that arrived but is not shown yet keeps its placeholder cards.
  const isShowingNextPage = result.isFetchingNextPage || (result.data?.pages.length ?? 0) > (data?.pages.length ?? 0);
  // Until every card of the page is shown, the end of the list is not near: no next page yet.
  return { ...result, hasNextPage: result.hasNextPage && !partial, isPending, isShowingNextPage, items };
}

type ListData = InfiniteData<ItemPage, string>;

/** Applies `change` to every cached library list (optimistic updates). */
export function updateLists(client: QueryClient, change: (items: Item[]) => Item[]): void {
  client.setQueriesData<ListData>({ queryKey: ['content', 'list'] }, (data) =>
    data ? { ...data, pages: data.pages.map((p) => ({ ...p, items: change(p.items) })) } : data,
  );
}

/** Removes an item from every cached list (it was deleted, restored or purged). */
export function useListEdits() {
  const client = useQueryClient();
  return useMemo(
    () => ({
      remove: (id: string) => updateLists(client, (items) => items.filter((i) => i.id !== id)),
      replace: (item: Item) => updateLists(client, (items) => items.map((i) => (i.id === item.id ? item : i))),
      refresh: () => client.invalidateQueries({ queryKey: queryKeys.content.all }),
      client,
    }),
    [client],
  );
}
