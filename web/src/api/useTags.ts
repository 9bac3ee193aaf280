import { useQuery } from '@tanstack/react-query';

import { api, call } from './client';
import { queryKeys } from './queryKeys';

/**
 * The user's tags, most used first (`GET /api/content/tags`), for suggestions. Asked for only
 * while `enabled`; content events refresh it like every other `['content']` query.
 */
export function useTags(enabled = true): string[] {
  const tags = useQuery({
    queryKey: queryKeys.content.tags,
    queryFn: () => call(api.GET('/api/content/tags')),
    enabled,
    staleTime: 60_000,
    select: (data) => data.tags.map((t) => t.tag),
  });
  return tags.data ?? [];
}
