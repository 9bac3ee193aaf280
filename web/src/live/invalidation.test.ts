import { QueryClient } from '@tanstack/react-query';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { createInvalidator, staleKeysFor } from './invalidation';
import type { LiveEvent } from './protocol';

function ev(event_type: string): LiveEvent {
  return { position: 1, event_id: 'e', stream: 's', stream_version: 1, event_type, schema_version: 1, payload: {}, recorded_at: '' };
}

afterEach(() => vi.useRealTimers());

describe('live invalidation', () => {
  it('maps events to the queries they make stale', () => {
    expect(staleKeysFor(ev('content.uploaded'))).toEqual([['content'], ['search']]);
    expect(staleKeysFor(ev('job.succeeded'))).not.toContainEqual(['search']);
    expect(staleKeysFor(ev('conversation.message_posted'))).toEqual([['conversations']]);
    expect(staleKeysFor(ev('apikey.created'))).toEqual([['me', 'api-keys']]);
    expect(staleKeysFor(ev('job.progress'))).toEqual([]);
    expect(staleKeysFor(ev('session.refreshed'))).toEqual([]);
    expect(staleKeysFor(ev('session.revoked'))).toEqual([['me', 'sessions']]);
  });

  it('invalidates each key once per burst', async () => {
    vi.useFakeTimers();
    const client = new QueryClient();
    const spy = vi.spyOn(client, 'invalidateQueries').mockResolvedValue();
    const inv = createInvalidator(client, 100);
    inv.push(ev('content.uploaded'));
    inv.push(ev('content.tagged'));
    inv.push(ev('upload.completed'));
    inv.push(ev('usage.recorded'));
    expect(spy).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(100);
    expect(spy.mock.calls.map(([f]) => f?.queryKey)).toEqual([['content'], ['search'], ['usage']]);
  });
});
