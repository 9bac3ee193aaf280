/**
 * The live WebSocket's wire protocol, version 1 (docs/websocket.md at the repository root;
 * the server's side is actors/src/session/protocol.rs). These types mirror the document: the
 * socket is not in the OpenAPI document's schemas.
 */
export const PROTOCOL_VERSION = 1;

export const TOPICS = ['content', 'jobs', 'conversations', 'usage', 'account'] as const;
export type Topic = (typeof TOPICS)[number];

/** Event type prefixes of each topic, as the server groups them. */
const TOPIC_PREFIXES: Record<Topic, readonly string[]> = {
  content: ['content.', 'upload.'],
  jobs: ['job.'],
  conversations: ['conversation.'],
  usage: ['usage.'],
  account: ['user.', 'apikey.', 'session.'],
};

/** The topic an event type belongs to, if any. */
export function topicOf(eventType: string): Topic | undefined {
  return TOPICS.find((t) => TOPIC_PREFIXES[t].some((p) => eventType.startsWith(p)));
}

/** One of the user's events, as pushed by the server. */
export interface LiveEvent<P = Record<string, unknown>> {
  /** Global log position: strictly increasing; the socket keeps the last one to resume. */
  position: number;
  event_id: string;
  /** e.g. `content-<uuid>`, `job-<uuid>`, `conversation-<uuid>`. */
  stream: string;
  stream_version: number;
  /** e.g. `content.uploaded`, `job.progress`. */
  event_type: string;
  schema_version: number;
  payload: P;
  recorded_at: string;
}

/** The id part of a stream name: `streamId('job-0190…') === '0190…'`. */
export function streamId(stream: string): string {
  const dash = stream.indexOf('-');
  return dash < 0 ? stream : stream.slice(dash + 1);
}

export type ServerMessage =
  | {
      v: 1;
      type: 'ready';
      user_id: string;
      session_id: string;
      position: number;
      resume_from?: number | null;
      topics: string[];
    }
  | ({ v: 1; type: 'event' } & LiveEvent)
  | { v: 1; type: 'resumed'; position: number }
  | { v: 1; type: 'caught_up'; position: number }
  | { v: 1; type: 'subscribed'; topics: string[] }
  | { v: 1; type: 'pong'; id?: unknown }
  | { v: 1; type: 'error'; code: string; message: string };

export type ClientMessage =
  | { v: 1; type: 'resume'; position: number }
  | { v: 1; type: 'subscribe'; topics: '*' | Topic[] }
  | { v: 1; type: 'ping'; id?: unknown };

/** Close reasons after which reconnecting cannot help. */
export const FINAL_CLOSE_REASONS = new Set(['account_disabled']);
/** Close reasons that mean the cookie was not accepted: refresh it, then reconnect. */
export const AUTH_CLOSE_REASONS = new Set(['invalid_token', 'auth_timeout']);

export function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const msg = JSON.parse(data) as { v?: unknown; type?: unknown };
    if (typeof msg !== 'object' || msg === null || msg.v !== PROTOCOL_VERSION || typeof msg.type !== 'string') {
      return null;
    }
    return msg as ServerMessage;
  } catch {
    return null;
  }
}
