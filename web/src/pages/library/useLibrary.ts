import { keepPreviousData, useInfiniteQuery, useQueryClient, type InfiniteData, type QueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';

import { api, call } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { listQuery, type Filters } from './filters';
import type { Item, ItemPage } from './types';

export const PAGE_SIZE = 50;

/** The library list for `filters`, a page at a time (cursor pagination). */
export function useLibrary(filters: Filters) {
  const query = useMemo(() => listQuery(filters), [filters]);
  const result = useInfiniteQuery({
    queryKey: queryKeys.content.list(query),
    queryFn: ({ pageParam, signal }) =>
      call(
        api.GET('/api/content', {
          params: { query: { ...query, limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
          signal,
        }),
      ),
    initialPageParam: '' as string,
    // A new filter keeps showing the old results until the new ones arrive: no flash, no jump.
    placeholderData: keepPreviousData,
    getNextPageParam: (last: ItemPage) => last.next_cursor ?? undefined,
  });
  const items = useMemo(() => result.data?.pages.flatMap((p) => p.items) ?? [], [result.data]);
  return { ...result, items };
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
