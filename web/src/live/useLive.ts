import { useContext, useEffect, useRef, useSyncExternalStore } from 'react';

import { LiveContext } from './LiveContext';
import type { LiveEvent } from './protocol';
import type { EventFilter, LiveStatus } from './socket';

/**
 * Calls `handler` for each live event matching `filter` while the component is mounted:
 *
 *   useLiveEvents('job.progress', (e) => setPercent(e.payload.percent as number));
 *   useLiveEvents((e) => e.stream === `conversation-${id}`, onAnswerPiece);
 *
 * The handler may change every render; the subscription does not. A function filter is read at
 * subscription time, so make it depend only on values listed in `deps`.
 */
export function useLiveEvents(filter: EventFilter, handler: (event: LiveEvent) => void, deps: readonly unknown[] = []): void {
  const socket = useContext(LiveContext);
  const handlerRef = useRef(handler);
  useEffect(() => {
    handlerRef.current = handler;
  });
  const key = typeof filter === 'function' ? null : filter;
  useEffect(() => {
    if (!socket) return;
    return socket.subscribe(filter, (e) => handlerRef.current(e));
    // The filter is compared by value for strings and by `deps` for predicates.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket, key, ...deps]);
}

const offline = () => 'offline' as const;
const noop = () => () => undefined;

/** The socket's state, for a connection indicator. */
export function useLiveStatus(): LiveStatus {
  const socket = useContext(LiveContext);
  return useSyncExternalStore(
    socket ? (l) => socket.onStatus(l) : noop,
    socket ? () => socket.getStatus() : offline,
    offline,
  );
}
