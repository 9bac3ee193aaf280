/**
 * Every react-query key in one place. Keys are arrays whose first element is the area, so that
 * invalidating `['content']` refreshes every list and item of the library. Live events invalidate
 * by these prefixes (src/live/invalidation.ts): add a key here, then map its events there.
 */
export const queryKeys = {
  me: ['me'] as const,
  apiKeys: ['me', 'api-keys'] as const,
  /** The user's live sign-ins (`GET /api/me/sessions`). */
  sessions: ['me', 'sessions'] as const,
  content: {
    all: ['content'] as const,
    list: (filters: Record<string, unknown> = {}) => ['content', 'list', filters] as const,
    item: (id: string) => ['content', 'item', id] as const,
    /** The user's tags with counts (`GET /api/content/tags`); any content event refreshes them. */
    tags: ['content', 'tags'] as const,
    /** The first lines of a text item, by its bytes' hash (never stale: the bytes never change). */
    snippet: (sha256: string) => ['content-snippet', sha256] as const,
  },
  /**
   * Search results (`GET /api/search`) and "more like this" (`GET /api/content/{id}/similar`).
   * Their own area: content events refresh them, job events (frequent while items are processed,
   * and each search embeds its words again) do not.
   */
  search: {
    all: ['search'] as const,
    results: (query: Record<string, unknown>) => ['search', 'results', query] as const,
    similar: (id: string) => ['search', 'similar', id] as const,
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
  /** Bytes of an item, by id and hash (immutable: no live event makes them stale). */
  files: {
    text: (id: string, sha256: string) => ['files', 'text', id, sha256] as const,
  },
  usage: ['usage'] as const,
  admin: {
    all: ['admin'] as const,
    users: (filters: Record<string, unknown> = {}) => ['admin', 'users', filters] as const,
    /** One user's usage and limits, as an admin reads them (`GET /api/usage?user_id=`). */
    userUsage: (id: string) => ['admin', 'users', 'usage', id] as const,
    /** Everyone's totals (`GET /api/admin/usage`). */
    usage: (filters: Record<string, unknown> = {}) => ['admin', 'usage', filters] as const,
    models: ['admin', 'models'] as const,
    jobs: (filters: Record<string, unknown> = {}) => ['admin', 'jobs', filters] as const,
    projections: ['admin', 'projections'] as const,
    /** This node's supervised background work (`GET /api/admin/workers`). */
    workers: ['admin', 'workers'] as const,
  },
} as const;
