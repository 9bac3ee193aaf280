import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { LiveEvent } from './protocol';
import { LiveSocket, type WebSocketLike } from './socket';

/** A scripted stand-in for the browser's WebSocket. */
class FakeWebSocket implements WebSocketLike {
  static all: FakeWebSocket[] = [];
  readyState = 0;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  sent: unknown[] = [];
  closedWith: [number | undefined, string | undefined] | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }

  static last(): FakeWebSocket {
    const ws = FakeWebSocket.all.at(-1);
    if (!ws) throw new Error('no socket opened');
    return ws;
  }

  send(data: string) {
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string) {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }

  // Server side.
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(msg: Record<string, unknown>) {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify({ v: 1, ...msg }) }));
  }
  serverClose(code: number, reason: string) {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

function event(position: number, event_type: string, payload: Record<string, unknown> = {}) {
  return {
    type: 'event',
    position,
    event_id: `e${position}`,
    stream: `job-${position}`,
    stream_version: 1,
    event_type,
    schema_version: 1,
    payload,
    recorded_at: '2026-01-01T00:00:00Z',
  };
}

const URL_BASE = 'ws://tessera.test/api/ws';

function makeSocket(opts: Partial<ConstructorParameters<typeof LiveSocket>[0]> = {}) {
  return new LiveSocket({ url: URL_BASE, WebSocket: FakeWebSocket, random: () => 0, ...opts });
}

beforeEach(() => {
  FakeWebSocket.all = [];
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('LiveSocket', () => {
  it('resumes from the last event it saw after a reconnect, with nothing missed or repeated', async () => {
    const socket = makeSocket();
    const seen: number[] = [];
    socket.subscribe('jobs', (e: LiveEvent) => seen.push(e.position));
    socket.start();

    const first = FakeWebSocket.last();
    expect(first.url).toBe(URL_BASE); // first connection: live only
    first.open();
    first.receive({ type: 'ready', user_id: 'u', session_id: 's1', position: 100, topics: ['*'] });
    expect(socket.getStatus()).toBe('live');
    first.receive(event(101, 'job.started'));
    first.receive(event(103, 'job.progress', { percent: 40 }));
    first.serverClose(1001, 'server_shutdown');
    expect(socket.getStatus()).toBe('reconnecting');

    await vi.advanceTimersByTimeAsync(1_000);
    const second = FakeWebSocket.last();
    expect(second).not.toBe(first);
    expect(second.url).toBe(`${URL_BASE}?resume_from=103`);
    second.open();
    second.receive({ type: 'ready', user_id: 'u', session_id: 's2', position: 110, resume_from: 103, topics: ['*'] });
    expect(socket.getStatus()).toBe('catching_up');
    second.receive(event(103, 'job.progress')); // a repeat at the seam: dropped
    second.receive(event(105, 'job.succeeded'));
    second.receive({ type: 'caught_up', position: 110 });
    expect(socket.getStatus()).toBe('live');
    second.receive(event(111, 'job.requested'));

    expect(seen).toEqual([101, 103, 105, 111]);
    expect(socket.getPosition()).toBe(111);
    socket.stop();
  });

  it('resumes from the ready position when no event came before the drop', async () => {
    const socket = makeSocket();
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'ready', user_id: 'u', session_id: 's', position: 42, topics: ['*'] });
    ws.serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeWebSocket.last().url).toBe(`${URL_BASE}?resume_from=42`);
    socket.stop();
  });

  it('replays from a page snapshot asked for before ready, dropping frames already on their way', () => {
    const socket = makeSocket();
    const seen: number[] = [];
    socket.subscribe('*', (e: LiveEvent) => seen.push(e.position));
    socket.replayFrom(90); // before start: remembered until the connection is ready
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'ready', user_id: 'u', session_id: 's', position: 100, topics: ['*'] });
    expect(ws.sent).toContainEqual({ v: 1, type: 'resume', position: 90 });
    expect(socket.getStatus()).toBe('catching_up');
    ws.receive(event(101, 'job.started')); // sent before the server read the resume: comes again
    ws.receive({ type: 'resumed', position: 90 });
    ws.receive(event(95, 'job.progress'));
    ws.receive(event(101, 'job.started'));
    ws.receive({ type: 'caught_up', position: 101 });
    ws.receive(event(102, 'job.succeeded'));
    expect(seen).toEqual([95, 101, 102]);
    expect(socket.getStatus()).toBe('live');
    socket.replayFrom(120); // ahead of what was seen: nothing to replay
    expect(ws.sent.filter((m) => (m as { type: string }).type === 'resume')).toHaveLength(1);
    socket.stop();
  });

  it('filters by topic, event type, prefix and predicate', () => {
    const socket = makeSocket();
    const got: Record<string, string[]> = { topic: [], type: [], prefix: [], predicate: [] };
    socket.subscribe('conversations', (e) => got.topic?.push(e.event_type));
    socket.subscribe('job.progress', (e) => got.type?.push(e.event_type));
    socket.subscribe('content.*', (e) => got.prefix?.push(e.event_type));
    socket.subscribe((e) => e.payload.important === true, (e) => got.predicate?.push(e.event_type));
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'ready', user_id: 'u', session_id: 's', position: 0, topics: ['*'] });
    ws.receive(event(1, 'conversation.answer_streamed'));
    ws.receive(event(2, 'job.progress'));
    ws.receive(event(3, 'job.started', { important: true }));
    ws.receive(event(4, 'content.uploaded'));
    ws.receive(event(5, 'upload.completed'));
    expect(got).toEqual({
      topic: ['conversation.answer_streamed'],
      type: ['job.progress'],
      prefix: ['content.uploaded'],
      predicate: ['job.started'],
    });
    socket.stop();
  });

  it('refreshes the cookie once when the token is refused, then reconnects', async () => {
    const reauthenticate = vi.fn(async () => true);
    const socket = makeSocket({ reauthenticate });
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'error', code: 'invalid_token', message: 'expired' });
    ws.serverClose(1008, 'invalid_token');
    await vi.advanceTimersByTimeAsync(0);
    expect(reauthenticate).toHaveBeenCalledTimes(1);
    expect(FakeWebSocket.all).toHaveLength(2);
    socket.stop();
  });

  it('treats a connection that never says ready as a refused cookie', async () => {
    const reauthenticate = vi.fn(async () => false);
    const socket = makeSocket({ reauthenticate, readyTimeoutMs: 1_000 });
    socket.start();
    FakeWebSocket.last().open();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeWebSocket.last().closedWith?.[1]).toBe('no_ready');
    expect(reauthenticate).toHaveBeenCalledTimes(1);
    // Signed out: it stops instead of retrying.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.all).toHaveLength(1);
    expect(socket.getStatus()).toBe('offline');
  });

  it('stops for good when the account is disabled', async () => {
    const onEnded = vi.fn();
    const socket = makeSocket({ onEnded });
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'ready', user_id: 'u', session_id: 's', position: 1, topics: ['*'] });
    ws.serverClose(1008, 'account_disabled');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(onEnded).toHaveBeenCalledWith('account_disabled');
    expect(FakeWebSocket.all).toHaveLength(1);
  });

  it('reports a gap when the server cannot resume from our position', () => {
    const onGap = vi.fn();
    const socket = makeSocket({ onGap });
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'ready', user_id: 'u', session_id: 's', position: 5, resume_from: 900, topics: ['*'] });
    ws.receive({ type: 'error', code: 'resume_position_ahead', message: 'beyond the log' });
    ws.receive({ type: 'caught_up', position: 5 });
    expect(onGap).toHaveBeenCalledTimes(1);
    expect(socket.getPosition()).toBe(5);
    socket.stop();
  });

  it('pings, and reconnects when no pong comes back', async () => {
    const socket = makeSocket({ pingIntervalMs: 1_000, pongTimeoutMs: 500 });
    socket.start();
    const ws = FakeWebSocket.last();
    ws.open();
    ws.receive({ type: 'ready', user_id: 'u', session_id: 's', position: 7, topics: ['*'] });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ws.sent).toEqual([{ v: 1, type: 'ping', id: 1 }]);
    ws.receive({ type: 'pong', id: 1 });
    await vi.advanceTimersByTimeAsync(1_000); // second ping, never answered
    await vi.advanceTimersByTimeAsync(500);
    expect(ws.closedWith?.[1]).toBe('no_pong');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeWebSocket.last().url).toBe(`${URL_BASE}?resume_from=7`);
    socket.stop();
  });

  it('backs off exponentially between failed attempts', async () => {
    const socket = makeSocket({ backoffInitialMs: 100, random: () => 1 });
    socket.start();
    FakeWebSocket.last().serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(99);
    expect(FakeWebSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.all).toHaveLength(2);
    FakeWebSocket.last().serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(199);
    expect(FakeWebSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.all).toHaveLength(3);
    socket.stop();
  });
});
