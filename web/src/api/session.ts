/**
 * The browser session: the access and refresh tokens live in HttpOnly cookies that scripts never
 * see, so this module only keeps *when* the access token expires and *when* it was last
 * refreshed (localStorage, shared by every tab), and refreshes the cookies through
 * `POST /api/auth/refresh`.
 *
 * The refresh token is single use: presenting it twice revokes the whole session. So refreshes
 * are single-flight within a tab (one shared promise) and across tabs (a Web Lock, and inside it
 * a check whether another tab already refreshed since our request was sent).
 */
import { ApiError } from './errors';

const STATE_KEY = 'tessera.auth';
const LOCK_NAME = 'tessera-auth-refresh';
/** Refresh this long before the access token expires, so requests never meet an expired one. */
export const REFRESH_AHEAD_MS = 60_000;
/** Without a known send time, a refresh younger than this counts as fresh enough. */
const RECENT_MS = 5_000;
const REFRESH_PATH = '/api/auth/refresh';

/** What every tab knows about the session (never a token). */
export interface SessionTimes {
  /** When the access token expires (ms since the epoch). */
  accessExpiresAt: number;
  /** When the cookies were last set by a sign-in or refresh (ms since the epoch). */
  refreshedAt: number;
}

/** The fields of the server's `TokenResponse` this module needs. */
export interface TokenTimes {
  access_token_expires_at: string;
}

export type SessionEvent = 'refreshed' | 'ended';

let inflight: Promise<boolean> | null = null;
/** When this tab last set the cookies; kept in memory too in case storage is blocked. */
let refreshedHere = 0;
const listeners = new Set<(e: SessionEvent) => void>();

function emit(e: SessionEvent): void {
  listeners.forEach((l) => l(e));
}

/** Called on every refresh and when the session ends (here or in another tab). */
export function onSessionEvent(listener: (e: SessionEvent) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function readSession(): SessionTimes | null {
  try {
    const raw = localStorage.getItem(STATE_KEY);
    if (!raw) return null;
    const v = JSON.parse(raw) as Partial<SessionTimes>;
    if (typeof v.accessExpiresAt !== 'number' || typeof v.refreshedAt !== 'number') return null;
    return { accessExpiresAt: v.accessExpiresAt, refreshedAt: v.refreshedAt };
  } catch {
    return null;
  }
}

/** Records a sign-in, sign-up or refresh response. */
export function recordTokens(tokens: TokenTimes, now = Date.now()): void {
  refreshedHere = now;
  const accessExpiresAt = Date.parse(tokens.access_token_expires_at);
  const times: SessionTimes = {
    accessExpiresAt: Number.isNaN(accessExpiresAt) ? now : accessExpiresAt,
    refreshedAt: now,
  };
  try {
    localStorage.setItem(STATE_KEY, JSON.stringify(times));
  } catch {
    // Storage blocked: refreshes then happen on 401s only.
  }
  emit('refreshed');
}

/** Forgets the session here and, through the storage event, in every other tab. */
export function endSession(): void {
  const had = readSession() !== null;
  try {
    localStorage.removeItem(STATE_KEY);
  } catch {
    // Nothing stored, nothing to remove.
  }
  if (had) emit('ended');
}

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key !== STATE_KEY && e.key !== null) return;
    emit(e.newValue ? 'refreshed' : 'ended');
  });
}

export interface RefreshOptions {
  /**
   * When the request that got a 401 was sent. If the cookies were refreshed at or after that
   * (by this tab or another), the request used stale cookies and a retry is enough.
   */
  sentAt?: number;
  /** Refresh only when the access token is about to expire (the proactive refresh). */
  onlyIfExpiring?: boolean;
}


function lastRefreshAt(): number {
  return Math.max(refreshedHere, readSession()?.refreshedAt ?? 0);
}

/**
 * Makes sure the cookies hold a usable access token. Resolves `true` when they do (refreshed
 * here, or by another tab), `false` when the session is over (it then ends it). Rejects with an
 * `ApiError` when the server could not be asked (offline, 5xx): the session may still be fine.
 */
export function refreshSession(opts: RefreshOptions = {}): Promise<boolean> {
  if (inflight) {
    // Concurrent callers in this tab share one refresh. Should the shared one have decided that
    // no refresh was needed (a proactive check), a 401 caller then asks again for itself.
    const { sentAt } = opts;
    return inflight.then((ok) =>
      ok && sentAt !== undefined && lastRefreshAt() < sentAt ? refreshSession(opts) : ok,
    );
  }
  const run = withLock(() => refreshUnderLock(opts)).finally(() => {
    inflight = null;
  });
  inflight = run;
  return run;
}

async function withLock<T>(run: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks && typeof locks.request === 'function') {
    return locks.request(LOCK_NAME, { mode: 'exclusive' }, run);
  }
  // No Web Locks (old browsers, tests): single-flight in this tab; across tabs the server's
  // `concurrent_modification` answer and the recorded refresh time stand in.
  return run();
}

async function refreshUnderLock(opts: RefreshOptions): Promise<boolean> {
  const now = Date.now();
  const last = lastRefreshAt();
  // Another tab (or this one) refreshed after our request went out: its cookies are ours too.
  if (opts.sentAt !== undefined ? last >= opts.sentAt : now - last < RECENT_MS) return true;
  if (opts.onlyIfExpiring) {
    const known = readSession();
    // Not signed in (as far as this browser knows): nothing to keep alive.
    if (!known) return false;
    if (known.accessExpiresAt - now > REFRESH_AHEAD_MS) return true;
  }

  let response: Response;
  try {
    response = await fetch(new URL(REFRESH_PATH, window.location.origin), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: '{}',
    });
  } catch (cause) {
    throw ApiError.network(cause);
  }
  if (response.ok) {
    recordTokens((await response.json()) as TokenTimes);
    return true;
  }
  if (response.status === 409) {
    // `concurrent_modification`: another refresh of this session won the race (a tab without Web
    // Locks); its cookies are ours too.
    await new Promise((r) => setTimeout(r, 250));
    return true;
  }
  if (response.status === 401 || response.status === 403) {
    // No refresh cookie, expired, reused (revoked) or the account is disabled: signed out.
    endSession();
    return false;
  }
  throw await ApiError.fromResponse(response);
}

/**
 * Keeps the session alive while the app runs: refreshes shortly before the access token expires
 * (rescheduled whenever any tab refreshes) and when the tab comes back to the foreground after
 * its timers were throttled. Returns a stop function.
 */
export function keepSessionFresh(): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refreshSoon = () => {
    refreshSession({ onlyIfExpiring: true }).catch(() => {
      // Offline or the server is down: a 401 later will retry.
      schedule(30_000);
    });
  };
  function schedule(minDelay = 0): void {
    clearTimeout(timer);
    const s = readSession();
    if (!s) return;
    // A little jitter so that tabs do not all wake at the same instant (the lock makes it safe
    // anyway; this only saves work).
    const jitter = Math.random() * 5_000;
    const delay = Math.max(minDelay, s.accessExpiresAt - REFRESH_AHEAD_MS - Date.now() - jitter);
    timer = setTimeout(refreshSoon, delay);
  }
  const onVisible = () => {
    if (document.visibilityState === 'visible') refreshSoon();
  };
  const off = onSessionEvent((e) => (e === 'refreshed' ? schedule() : clearTimeout(timer)));
  document.addEventListener('visibilitychange', onVisible);
  schedule();
  return () => {
    off();
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}

/** Paths whose 401s mean "wrong credentials", not "refresh me". */
function isAuthPath(url: string): boolean {
  return new URL(url, window.location.origin).pathname.startsWith('/api/auth/');
}

/**
 * `fetch` for API calls: refreshes ahead of a known expiry, and on a 401 refreshes once and
 * retries once. Use it for calls the typed client cannot make (multipart uploads, downloads).
 */
export async function authFetch(input: Request | string | URL, init?: RequestInit): Promise<Response> {
  const isRequest = input instanceof Request && init === undefined;
  const request = isRequest ? input : new Request(input, init);
  if (isAuthPath(request.url)) return send(request);
  const known = readSession();
  if (known && known.accessExpiresAt - Date.now() < 5_000) {
    await refreshSession({ onlyIfExpiring: true }).catch(() => undefined);
  }
  // A sent body cannot be read again, so the retry needs its own copy: a clone of a Request
  // (small JSON bodies from the typed client), else a new Request from `init` made only when
  // needed, so that a File or FormData upload is not buffered twice.
  const retryCopy = isRequest ? request.clone() : null;
  const sentAt = Date.now();
  const response = await send(request);
  if (response.status !== 401) return response;
  const ok = await refreshSession({ sentAt }).catch(() => false);
  if (!ok) return response;
  return send(retryCopy ?? new Request(input, init));
}

async function send(request: Request): Promise<Response> {
  try {
    return await fetch(request);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    throw ApiError.network(cause);
  }
}

/** For tests: forget the shared in-flight refresh. */
export function resetSessionForTests(): void {
  inflight = null;
  refreshedHere = 0;
}
