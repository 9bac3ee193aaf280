/**
 * Every react-query key in one place. Keys are arrays whose first element is the area, so that
 * invalidating `['content']` refreshes every list and item of the library. Live events invalidate
 * by these prefixes (src/live/invalidation.ts): add a key here, then map its events there.
 */
export const queryKeys = {
  me: ['me'] as const,
  apiKeys: ['me', 'api-keys'] as const,
  content: {
    all: ['content'] as const,
    list: (filters: Record<string, unknown> = {}) => ['content', 'list', filters] as const,
    item: (id: string) => ['content', 'item', id] as const,
  },
  jobs: {
    all: ['jobs'] as const,
    list: (filters: Record<string, unknown> = {}) => ['jobs', 'list', filters] as const,
  },
  conversations: {
    all: ['conversations'] as const,
    list: () => ['conversations', 'list'] as const,
    item: (id: string) => ['conversations', 'item', id] as const,
  },
  usage: ['usage'] as const,
  admin: {
    all: ['admin'] as const,
    users: (filters: Record<string, unknown> = {}) => ['admin', 'users', filters] as const,
    models: ['admin', 'models'] as const,
    jobs: (filters: Record<string, unknown> = {}) => ['admin', 'jobs', filters] as const,
    projections: ['admin', 'projections'] as const,
  },
} as const;
