import { useQuery } from '@tanstack/react-query';
import { useCallback, useContext, useEffect, useRef, useState } from 'react';

import { api, call } from '../../api/client';
import { isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { LiveContext } from '../../live/LiveContext';
import type { LiveEvent } from '../../live/protocol';
import { useLiveEvents } from '../../live/useLive';
import { applyEvent, fromSnapshot, type ConversationDetail, type Thread } from './thread';

/**
 * A newer snapshot replaces what is shown (it already holds the pieces up to its position);
 * messages the page added since and the snapshot does not know yet are kept.
 */
export function rebase(prev: Thread | null, d: ConversationDetail, buffered: LiveEvent[]): Thread {
  let t = fromSnapshot(d);
  if (prev && prev.position >= t.position) return prev;
  if (prev) {
    const known = new Set(t.items.map((m) => m.id));
    t = { ...t, items: [...t.items, ...prev.items.filter((m) => !known.has(m.id))] };
  }
  for (const e of buffered) t = applyEvent(t, e);
  return t;
}

/**
 * One conversation, live: its snapshot (`GET /api/conversations/{id}`, including an answer
 * being written) and then its events. The socket replays from the snapshot's position, so an
 * answer that was streaming before a reload goes on with every piece exactly once.
 */
export function useConversation(id: string, seed?: Thread) {
  const socket = useContext(LiveContext);
  const [thread, setThread] = useState<Thread | null>(seed ?? null);
  const loaded = useRef(Boolean(seed));
  const buffer = useRef<LiveEvent[]>([]);
  const replayed = useRef(false);

  const query = useQuery({
    queryKey: queryKeys.conversations.item(id),
    queryFn: () => call(api.GET('/api/conversations/{id}', { params: { path: { id } } })),
    // The read model may be a moment behind a conversation that was just started.
    retry: (failures, err) => (isApiError(err, 'not_ready') || isApiError(err, 'network_error')) && failures < 8,
    retryDelay: (n) => Math.min(400 * 2 ** n, 4_000),
    refetchOnWindowFocus: false,
  });

  useLiveEvents(
    (e) => e.stream === `conversation-${id}`,
    (e) => {
      if (!loaded.current) buffer.current.push(e);
      else setThread((t) => (t ? applyEvent(t, e) : t));
    },
    [id],
  );

  const replay = useCallback(
    (position: number) => {
      if (replayed.current || !socket) return;
      replayed.current = true;
      socket.replayFrom(position);
    },
    [socket],
  );

  useEffect(() => {
    if (seed) replay(seed.position);
    // Only the seed this view started with.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const data = query.data;
  useEffect(() => {
    if (!data) return;
    const buffered = buffer.current;
    buffer.current = [];
    loaded.current = true;
    setThread((prev) => rebase(prev, data, buffered));
    replay(data.position);
  }, [data, replay]);

  /** Adds what the page knows before the events arrive (a message just accepted). */
  const update = useCallback((change: (t: Thread) => Thread) => setThread((t) => (t ? change(t) : t)), []);

  return { thread, error: thread ? null : query.error, isLoading: !thread && query.isPending, refetch: query.refetch, update };
}
