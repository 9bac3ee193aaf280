import { QueryClient } from '@tanstack/react-query';

import { ApiError } from './errors';

function retry(failures: number, err: unknown): boolean {
  // A 4xx will not change by asking again (401s are already refreshed and retried by authFetch).
  if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) return false;
  return failures < 2;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry,
        // Live events invalidate what changed (src/live/invalidation.ts), so data stays fresh
        // without polling.
        staleTime: 30_000,
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });
}
