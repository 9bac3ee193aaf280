/**
 * One WebSocket per tab to `/api/ws` (protocol: docs/websocket.md). It authenticates by the
 * HttpOnly access cookie, keeps the position of the last event it saw, and on every reconnect
 * resumes from it, so no event is missed or delivered twice. Subscribers filter by topic, event
 * type or predicate on the client; the socket itself receives all of the user's events.
 */
import { codeIs } from '../api/errors';
import {
  AUTH_CLOSE_REASONS,
  FINAL_CLOSE_REASONS,
  PROTOCOL_VERSION,
  parseServerMessage,
  topicOf,
  type ClientMessage,
  type LiveEvent,
  type ServerMessage,
  type Topic,
} from './protocol';

export type LiveStatus =
  /** Not started, or stopped for good (signed out, account disabled). */
  | 'offline'
  | 'connecting'
  /** Receiving the events missed while disconnected. */
  | 'catching_up'
  | 'live'
  /** Lost the connection; waiting to try again. */
  | 'reconnecting';

/**
 * What a subscriber wants: a topic (`'jobs'`), an event type (`'job.progress'`), a type prefix
 * (`'conversation.answer_*'`), `'*'`, or a predicate.
 */
export type EventFilter = Topic | '*' | (string & {}) | ((event: LiveEvent) => boolean);

export type EventHandler = (event: LiveEvent) => void;

/** The part of the browser's WebSocket the socket uses (tests pass a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = new (url: string) => WebSocketLike;

export interface LiveSocketOptions {
  /** The socket's URL without query (default: `ws(s)://<this host>/api/ws`). */
  url?: string;
  WebSocket?: WebSocketFactory;
  /**
   * The cookie was not accepted: refresh it. Resolve `true` to reconnect, `false` when the
   * user is signed out (the socket stops).
   */
  reauthenticate?: () => Promise<boolean>;
  /** Events may have been missed (the server could not resume): refetch what is shown. */
  onGap?: () => void;
  /** The server ended the session for good (`account_disabled`). */
  onEnded?: (reason: string) => void;
  /** How long to wait for `ready` after connecting before treating the cookie as refused. */
  readyTimeoutMs?: number;
  /** Application pings detect connections that died without a close (network switches). */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
}

const OPEN = 1;
const CONNECTING = 0;

function matches(filter: EventFilter, event: LiveEvent): boolean {
  if (typeof filter === 'function') return filter(event);
  if (filter === '*') return true;
  if (!filter.includes('.')) return topicOf(event.event_type) === filter;
  if (filter.endsWith('*')) return event.event_type.startsWith(filter.slice(0, -1));
  return event.event_type === filter;
}

function defaultUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/api/ws`;
}

export class LiveSocket {
  private readonly opts: Required<Omit<LiveSocketOptions, 'url' | 'reauthenticate' | 'onGap' | 'onEnded'>> &
    Pick<LiveSocketOptions, 'url' | 'reauthenticate' | 'onGap' | 'onEnded'>;
  private ws: WebSocketLike | null = null;
  private running = false;
  private status: LiveStatus = 'offline';
  /** Position of the last event seen (or known covered); `null` before the first `ready`. */
  private position: number | null = null;
  private attempt = 0;
  /** Whether the cookie was refreshed since the last `ready`; refreshing again would not help. */
  private reauthenticated = false;
  private pingSeq = 0;
  /** Whether the current connection said `ready`. */
  private authenticated = false;
  /** A replay asked for before the connection was ready (see `replayFrom`). */
  private pendingReplay: number | null = null;
  /** A `resume` was sent: events until `resumed` were already on their way and come again after it. */
  private awaitingResumed = false;
  private timers: { reconnect?: ReturnType<typeof setTimeout>; ready?: ReturnType<typeof setTimeout>; ping?: ReturnType<typeof setInterval>; pong?: ReturnType<typeof setTimeout> } = {};
  private readonly subscribers = new Set<{ filter: EventFilter; handler: EventHandler }>();
  private readonly statusListeners = new Set<(s: LiveStatus) => void>();

  constructor(options: LiveSocketOptions = {}) {
    this.opts = {
      WebSocket: options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketFactory),
      readyTimeoutMs: 5_000,
      pingIntervalMs: 25_000,
      pongTimeoutMs: 10_000,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      random: Math.random,
      ...options,
    };
  }

  /** Connects (if not already) and keeps reconnecting until `stop()`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  /** Closes the socket and stops reconnecting. The position is kept for a later `start()`. */
  stop(): void {
    this.running = false;
    window.removeEventListener('online', this.onOnline);
    this.clearTimers();
    clearTimeout(this.timers.reconnect);
    this.detach(1000, 'client_stopped');
    this.setStatus('offline');
  }

  /** Calls `handler` for every event that matches `filter`; returns the unsubscribe function. */
  subscribe(filter: EventFilter, handler: EventHandler): () => void {
    const entry = { filter, handler };
    this.subscribers.add(entry);
    return () => {
      this.subscribers.delete(entry);
    };
  }

  /**
   * Delivers again every event after `position` (a page's snapshot, e.g. a conversation's
   * `position`), then goes on live: what the page's snapshot misses comes exactly once after it.
   * Events the socket already delivered may come again: such subscribers dedupe by position.
   */
  replayFrom(position: number): void {
    if (!this.authenticated) {
      this.pendingReplay = this.pendingReplay === null ? position : Math.min(this.pendingReplay, position);
      return;
    }
    if (this.position !== null && position >= this.position) return;
    this.position = position;
    this.awaitingResumed = true;
    this.setStatus('catching_up');
    this.send({ v: PROTOCOL_VERSION, type: 'resume', position });
  }

  getStatus(): LiveStatus {
    return this.status;
  }

  /** The position the next connection resumes from. */
  getPosition(): number | null {
    return this.position;
  }

  onStatus(listener: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => {
      this.statusListeners.delete(listener);
    };
  }

  private readonly onOnline = (): void => {
    // Back online: do not wait out the backoff.
    if (this.running && !this.ws) {
      clearTimeout(this.timers.reconnect);
      this.connect();
    }
  };

  private setStatus(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    this.statusListeners.forEach((l) => l(s));
  }

  private connect(): void {
    if (!this.running) return;
    const base = this.opts.url ?? defaultUrl();
    // Positions are not secret; the query is the documented way to resume with cookie auth.
    const url = this.position === null ? base : `${base}?resume_from=${this.position}`;
    this.setStatus(this.position === null && this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws: WebSocketLike;
    try {
      ws = new this.opts.WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => this.onClose(ev.code, ev.reason);
    // An error is always followed by a close; the close decides what to do.
    ws.onerror = () => undefined;
    this.timers.ready = setTimeout(() => {
      // Connected but never authenticated: the cookie was refused or is missing.
      this.detach(4000, 'no_ready');
      this.afterClose('auth_timeout');
    }, this.opts.readyTimeoutMs);
  }

  private send(msg: ClientMessage): void {
    if (this.ws?.readyState === OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onMessage(data: unknown): void {
    const msg = parseServerMessage(data);
    if (!msg) return;
    this.handle(msg);
  }

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'ready': {
        clearTimeout(this.timers.ready);
        this.attempt = 0;
        this.reauthenticated = false;
        this.startPings();
        this.authenticated = true;
        this.awaitingResumed = false;
        if (msg.resume_from != null) {
          this.setStatus('catching_up');
        } else {
          // Live events after `position` follow: a later reconnect resumes from here, so even
          // before the first event nothing in between is lost.
          this.advance(msg.position);
          this.setStatus('live');
        }
        if (this.pendingReplay !== null) {
          const from = this.pendingReplay;
          this.pendingReplay = null;
          this.replayFrom(from);
        }
        return;
      }
      case 'event': {
        if (this.awaitingResumed) return;
        // The server sends each event once; this guards the seam between two connections.
        if (this.position !== null && msg.position <= this.position) return;
        this.position = msg.position;
        const { v: _v, type: _t, ...event } = msg;
        this.dispatch(event);
        return;
      }
      case 'caught_up':
        // Everything up to here was sent (events of other users are not ours to see).
        this.advance(msg.position);
        this.setStatus('live');
        return;
      case 'pong':
        clearTimeout(this.timers.pong);
        return;
      case 'error':
        if (codeIs(msg.code, 'resume_position_ahead')) {
          // The log does not reach our position (a restored database, say): start afresh.
          this.position = null;
          this.opts.onGap?.();
        } else if (!codeIs(msg.code, 'invalid_token', 'auth_timeout', 'unavailable')) {
          // The ones above are followed by a close, which handles them.
          console.warn(`live socket: ${msg.code}: ${msg.message}`);
        }
        return;
      case 'resumed':
        this.awaitingResumed = false;
        this.position = msg.position;
        return;
      case 'subscribed':
        return;
    }
  }

  private advance(position: number): void {
    if (this.position === null || position > this.position) this.position = position;
  }

  private dispatch(event: LiveEvent): void {
    for (const { filter, handler } of [...this.subscribers]) {
      if (!matches(filter, event)) continue;
      try {
        handler(event);
      } catch (err) {
        // One broken handler must not starve the others.
        console.error('live event handler failed', err);
      }
    }
  }

  private startPings(): void {
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => {
      this.send({ v: PROTOCOL_VERSION, type: 'ping', id: ++this.pingSeq });
      clearTimeout(this.timers.pong);
      this.timers.pong = setTimeout(() => {
        // No answer: the connection is dead even if the browser has not noticed.
        this.detach(4001, 'no_pong');
        this.afterClose('no_pong');
      }, this.opts.pongTimeoutMs);
    }, this.opts.pingIntervalMs);
  }

  private clearTimers(): void {
    clearTimeout(this.timers.ready);
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
  }

  /** Closes the current socket without reacting to its close event. */
  private detach(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    this.authenticated = false;
    this.awaitingResumed = false;
    this.clearTimers();
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    if (ws.readyState === OPEN || ws.readyState === CONNECTING) {
      try {
        ws.close(code, reason);
      } catch {
        // Already closing.
      }
    }
  }

  private onClose(_code: number, reason: string): void {
    this.ws = null;
    this.authenticated = false;
    this.awaitingResumed = false;
    this.clearTimers();
    this.afterClose(reason);
  }

  private afterClose(reason: string): void {
    if (!this.running) return;
    if (FINAL_CLOSE_REASONS.has(reason)) {
      this.stop();
      this.opts.onEnded?.(reason);
      return;
    }
    this.setStatus('reconnecting');
    if (AUTH_CLOSE_REASONS.has(reason) && this.opts.reauthenticate && !this.reauthenticated) {
      this.reauthenticated = true;
      this.opts.reauthenticate().then(
        (signedIn) => {
          if (!signedIn) this.stop();
          else if (this.running) this.connect();
        },
        () => this.scheduleReconnect(),
      );
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running) return;
    clearTimeout(this.timers.reconnect);
    const { backoffInitialMs, backoffMaxMs, random } = this.opts;
    const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** this.attempt);
    // "Equal jitter": at least half the ceiling, so a restarted server is not stormed.
    const delay = ceiling / 2 + random() * (ceiling / 2);
    this.attempt += 1;
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }
}
