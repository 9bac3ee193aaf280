import type { QueryClient } from '@tanstack/react-query';

import { meQuery } from './auth/meQuery';
import { readFilters } from './pages/library/filters';
import { libraryListOptions } from './pages/library/listQuery';

/**
 * Starts the first page's requests while its code still loads and React renders the frame:
 * who is signed in, and on the library (the start page) its first items. Without this they
 * would wait for the page's chunk, then the user, then the page's first render, one after the
 * other. A signed-out visitor's list request just fails (401) and is forgotten with the session.
 */
export function prefetchStart(client: QueryClient, location: Pick<Location, 'pathname' | 'search'>): void {
  void client.prefetchQuery(meQuery);
  if (location.pathname === '/' || location.pathname === '/library') {
    void client.prefetchInfiniteQuery(libraryListOptions(readFilters(new URLSearchParams(location.search))));
  }
}
