/**
 * A conversation as the page shows it: the snapshot from `GET /api/conversations/{id}`, then
 * the conversation's live events folded in. Events at or below the applied position are
 * already in the snapshot (or were applied), so each piece of an answer counts exactly once.
 */
import type { Schema } from '../../api/client';
import type { LiveEvent } from '../../live/protocol';

export type Message = Schema<'MessageView'>;
export type ConversationDetail = Schema<'ConversationDetail'>;

export interface Thread {
  id: string;
  title: string;
  provider: string;
  /** The log position of the last event folded in. */
  position: number;
  items: Message[];
  deleted: boolean;
}

export function fromSnapshot(d: ConversationDetail): Thread {
  return { id: d.id, title: d.title, provider: d.provider, position: d.position, items: d.items, deleted: false };
}

/** The answer being written, if any. */
export function answering(t: Thread): Message | undefined {
  return t.items.findLast((m) => m.role === 'assistant' && m.status === 'streaming');
}

type Payload = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

function blank(id: string, role: 'user' | 'assistant', at: string, seq: number): Message {
  return {
    id,
    seq,
    role,
    text: '',
    attachments: [],
    in_reply_to: null,
    status: role === 'user' ? 'posted' : 'streaming',
    provider: null,
    model: null,
    finish_reason: null,
    tokens_in: null,
    tokens_out: null,
    timings: null,
    context: null,
    error_code: null,
    error: null,
    created_at: at,
    updated_at: at,
  };
}

function upsert(t: Thread, id: string | null, role: 'user' | 'assistant', at: string, change: (m: Message) => Message): Thread {
  if (!id) return t;
  const i = t.items.findIndex((m) => m.id === id);
  if (i < 0) return { ...t, items: [...t.items, change(blank(id, role, at, t.items.length + 1))] };
  const items = t.items.slice();
  items[i] = change(items[i] as Message);
  return { ...t, items };
}

/** Folds one of the conversation's events in; older ones (already in the snapshot) change nothing. */
export function applyEvent(t: Thread, e: LiveEvent): Thread {
  if (e.position <= t.position) return t;
  const next = fold(t, e.event_type, e.payload, e.recorded_at);
  return { ...next, position: e.position };
}

function fold(t: Thread, type: string, p: Payload, at: string): Thread {
  const answerId = str(p.answer_id);
  switch (type) {
    case 'conversation.renamed':
      return { ...t, title: str(p.title) ?? t.title };
    case 'conversation.provider_changed':
      return { ...t, provider: str(p.provider) ?? t.provider };
    case 'conversation.deleted':
      return { ...t, deleted: true };
    case 'conversation.message_posted':
      return upsert(t, str(p.message_id), 'user', at, (m) => ({
        ...m,
        text: str(p.text) ?? m.text,
        attachments: Array.isArray(p.attachments) ? (p.attachments as string[]) : m.attachments,
      }));
    case 'conversation.answer_started':
      return upsert(t, answerId, 'assistant', at, (m) => ({
        ...m,
        in_reply_to: str(p.in_reply_to) ?? m.in_reply_to,
        provider: str(p.provider) ?? m.provider,
        model: str(p.model) ?? m.model,
      }));
    case 'conversation.answer_streamed':
      return upsert(t, answerId, 'assistant', at, (m) => ({ ...m, text: m.text + (str(p.delta) ?? ''), updated_at: at }));
    case 'conversation.answer_completed':
      return upsert(t, answerId, 'assistant', at, (m) => ({
        ...m,
        status: 'completed',
        text: str(p.text) ?? m.text,
        finish_reason: str(p.finish_reason),
        provider: str(p.provider) ?? m.provider,
        model: str(p.model) ?? m.model,
        tokens_in: num(p.tokens_in),
        tokens_out: num(p.tokens_out),
        timings: (p.timings as Message['timings']) ?? null,
        context: (p.context as Message['context']) ?? null,
        updated_at: at,
      }));
    case 'conversation.answer_cancelled':
      return upsert(t, answerId, 'assistant', at, (m) => ({ ...m, status: 'cancelled', text: str(p.text) ?? m.text, updated_at: at }));
    case 'conversation.answer_failed':
      return upsert(t, answerId, 'assistant', at, (m) => ({
        ...m,
        status: 'failed',
        text: str(p.text) ?? m.text,
        error_code: str(p.code),
        error: str(p.message),
        updated_at: at,
      }));
    default:
      return t;
  }
}

/** What the page adds as soon as the server accepted a message, before its events arrive. */
export function addPosted(t: Thread, posted: { message_id: string; answer_id: string }, text: string, attachments: string[]): Thread {
  const at = new Date().toISOString();
  let next = upsert(t, posted.message_id, 'user', at, (m) => ({ ...m, text: m.text || text, attachments: m.attachments.length ? m.attachments : attachments }));
  next = upsert(next, posted.answer_id, 'assistant', at, (m) => ({ ...m, in_reply_to: m.in_reply_to ?? posted.message_id }));
  return next;
}
