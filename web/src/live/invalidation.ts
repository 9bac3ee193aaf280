import type { QueryClient, QueryKey } from '@tanstack/react-query';

import { queryKeys } from '../api/queryKeys';
import type { LiveEvent } from './protocol';

/**
 * Which cached queries an event makes stale. Prefix keys: `['content']` covers every list and
 * item of the library, `['search']` every search (refreshed by content events only). High-rate events (`job.progress`, `conversation.answer_streamed`) are left
 * out on purpose: a page that shows them subscribes with `useLiveEvents` and updates itself.
 */
export function staleKeysFor(event: LiveEvent): QueryKey[] {
  const t = event.event_type;
  if (t === 'job.progress' || t === 'conversation.answer_streamed' || t.startsWith('upload.chunk')) return [];
  if (t.startsWith('content.')) return [queryKeys.content.all, queryKeys.search.all];
  if (t.startsWith('upload.')) return [queryKeys.content.all];
  if (t.startsWith('job.')) return [queryKeys.jobs.all, queryKeys.content.all, ['admin', 'jobs']];
  if (t.startsWith('conversation.')) return [queryKeys.conversations.all];
  if (t.startsWith('usage.')) return [queryKeys.usage];
  if (t.startsWith('apikey.')) return [queryKeys.apiKeys];
  // Not `session.refreshed`: each sign-in refreshes about every quarter of an hour.
  if (t === 'session.started' || t === 'session.revoked') return [queryKeys.sessions];
  if (t.startsWith('user.')) return [queryKeys.me, ['admin', 'users']];
  return [];
}

/**
 * Collects stale keys for a short while and invalidates each once: a burst of events (a catch-up
 * after a reconnect) costs one refetch per query, not one per event.
 */
export function createInvalidator(client: QueryClient, delayMs = 250): {
  push: (event: LiveEvent) => void;
  flush: () => void;
  dispose: () => void;
} {
  const pending = new Map<string, QueryKey>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const keys = [...pending.values()];
    pending.clear();
    for (const queryKey of keys) void client.invalidateQueries({ queryKey });
  };
  return {
    push(event) {
      for (const key of staleKeysFor(event)) pending.set(JSON.stringify(key), key);
      if (pending.size > 0 && timer === undefined) timer = setTimeout(flush, delayMs);
    },
    flush,
    dispose() {
      clearTimeout(timer);
      pending.clear();
    },
  };
}
