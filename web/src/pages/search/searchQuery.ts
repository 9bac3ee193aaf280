import { infiniteQueryOptions, queryOptions } from '@tanstack/react-query';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { SEARCH_PAGE_SIZE, searchQuery, type SearchFilters } from './params';

export type SearchPage = Schema<'SearchPage'>;
export type ItemHits = Schema<'ItemHits'>;
export type Hit = Schema<'Hit'>;
export type SnippetPart = Schema<'SnippetPart'>;
export type ConversationHits = Schema<'ConversationHits'>;
export type MessageHit = Schema<'MessageHitView'>;

/** The results for `filters`, a page at a time (cursor pagination), for `useInfiniteQuery`. */
export function searchOptions(filters: SearchFilters) {
  const query = searchQuery(filters);
  return infiniteQueryOptions({
    queryKey: queryKeys.search.results(query),
    queryFn: ({ pageParam, signal }) =>
      call(
        api.GET('/api/search', {
          params: { query: { ...query, limit: SEARCH_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
          signal,
        }),
      ),
    initialPageParam: '' as string,
    getNextPageParam: (last: SearchPage) => last.next_cursor ?? undefined,
    // Nothing to look for: no request (the server would refuse an empty query).
    enabled: query.q !== '',
  });
}

/** Items like `id` ("more like this"), at most `limit`. */
export function similarOptions(id: string, limit: number) {
  return queryOptions({
    queryKey: queryKeys.search.similar(id),
    queryFn: ({ signal }) => call(api.GET('/api/content/{id}/similar', { params: { path: { id }, query: { limit } }, signal })),
  });
}
