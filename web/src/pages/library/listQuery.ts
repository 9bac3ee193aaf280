import { infiniteQueryOptions } from '@tanstack/react-query';

import { api, call } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { listQuery, type Filters } from './filters';
import { prefetchFirstSnippets } from './snippet';
import type { ItemPage } from './types';

/** Items per page: the first page is about two screens; later ones come while scrolling. */
export const FIRST_PAGE_SIZE = 24;
export const PAGE_SIZE = 48;

/** The library list for `filters` (cursor pagination), for `useInfiniteQuery` and prefetching. */
export function libraryListOptions(filters: Filters) {
  const query = listQuery(filters);
  return infiniteQueryOptions({
    queryKey: queryKeys.content.list(query),
    queryFn: async ({ pageParam, signal, client }) => {
      const page = await call(
        api.GET('/api/content', {
          params: { query: { ...query, limit: pageParam ? PAGE_SIZE : FIRST_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
          signal,
        }),
      );
      if (!pageParam && filters.view === 'grid') prefetchFirstSnippets(client, page.items);
      return page;
    },
    initialPageParam: '' as string,
    getNextPageParam: (last: ItemPage) => last.next_cursor ?? undefined,
  });
}
