/** Conversations, messages and events for the chat tests. */
import type { LiveEvent } from '../../live/protocol';
import type { ConversationDetail, Message } from './thread';

export const AT = '2026-11-27T10:00:00Z';

export function msg(over: Partial<Message>): Message {
  return {
    id: 'm1',
    seq: 1,
    role: 'user',
    text: 'Hi',
    attachments: [],
    in_reply_to: null,
    status: 'posted',
    provider: null,
    model: null,
    finish_reason: null,
    tokens_in: null,
    tokens_out: null,
    timings: null,
    context: null,
    error_code: null,
    error: null,
    created_at: AT,
    updated_at: AT,
    ...over,
  };
}

export function detail(items: Message[], position: number): ConversationDetail {
  return { id: 'c1', title: 'Garden', provider: 'local', created_at: AT, updated_at: AT, messages: items.length, answering: null, position, items };
}

export function ev(position: number, event_type: string, payload: Record<string, unknown>): LiveEvent {
  return { position, event_id: `e${position}`, stream: 'conversation-c1', stream_version: position, event_type, schema_version: 1, payload, recorded_at: AT };
}


/** A stand-in for the tab's live socket: tests push events with `emit`. */
export function fakeSocket(position: number | null = 100) {
  const subs = new Set<{ filter: unknown; handler: (e: LiveEvent) => void }>();
  const replays: number[] = [];
  return {
    replays,
    subscribe(filter: unknown, handler: (e: LiveEvent) => void) {
      const entry = { filter, handler };
      subs.add(entry);
      return () => subs.delete(entry);
    },
    replayFrom: (p: number) => replays.push(p),
    getPosition: () => position,
    getStatus: () => 'live' as const,
    onStatus: () => () => undefined,
    emit(e: LiveEvent) {
      for (const s of [...subs]) if (typeof s.filter !== 'function' || (s.filter as (e: LiveEvent) => boolean)(e)) s.handler(e);
    },
  };
}
