import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { authFetch, onSessionEvent, readSession, recordTokens, refreshSession, resetSessionForTests } from './session';

const ORIGIN = window.location.origin;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function tokens(inMs = 900_000) {
  return {
    user_id: 'u',
    role: 'user',
    token_type: 'Bearer',
    access_token: 'a',
    expires_in: inMs / 1000,
    access_token_expires_at: new Date(Date.now() + inMs).toISOString(),
    refresh_token: 'r',
    refresh_token_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  };
}

/**
 * A fake server: the access "cookie" is a generation number; requests made with an older one
 * get 401 until /api/auth/refresh moves it on.
 */
function fakeServer(opts: { refreshStatus?: number } = {}) {
  let generation = 0;
  const calls = { refresh: 0, me: 0 };
  const fetchMock = vi.fn(async (input: RequestInfo | URL, _init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input), ORIGIN);
    if (url.pathname === '/api/auth/refresh') {
      calls.refresh++;
      await new Promise((r) => setTimeout(r, 5));
      if (opts.refreshStatus && opts.refreshStatus !== 200) {
        return json(opts.refreshStatus, { error: { code: 'refresh_token_reused', message: 'reused' } });
      }
      generation++;
      return json(200, tokens());
    }
    calls.me++;
    return generation > 0 ? json(200, { id: 'u' }) : json(401, { error: { code: 'token_expired', message: 'expired' } });
  });
  vi.stubGlobal('fetch', fetchMock);
  return { calls, fetchMock };
}

beforeEach(() => {
  resetSessionForTests();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('authFetch', () => {
  it('answers two concurrent 401s with exactly one refresh, then retries both', async () => {
    const { calls } = fakeServer();
    const [a, b] = await Promise.all([authFetch(`${ORIGIN}/api/me`), authFetch(`${ORIGIN}/api/content`)]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(calls.refresh).toBe(1);
    expect(calls.me).toBe(4); // two 401s, two retries
    expect(readSession()).not.toBeNull();
  });

  it('retries a POST with its body after refreshing', async () => {
    fakeServer();
    const seen: string[] = [];
    const inner = globalThis.fetch;
    vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
      if (input instanceof Request && input.method === 'POST' && !input.url.endsWith('/refresh')) seen.push(await input.clone().text());
      return inner(input, init);
    });
    const res = await authFetch(`${ORIGIN}/api/me/api-keys`, { method: 'POST', body: '{"name":"ci"}' });
    expect(res.status).toBe(200);
    expect(seen).toEqual(['{"name":"ci"}', '{"name":"ci"}']);
  });

  it('does not refresh when another tab refreshed after the request was sent', async () => {
    const { calls, fetchMock } = fakeServer();
    // The request goes out; while it is in flight another tab refreshes (shared storage).
    fetchMock.mockImplementationOnce(async () => {
      recordTokens(tokens(), Date.now() + 1);
      return json(401, { error: { code: 'token_expired', message: 'expired' } });
    });
    fetchMock.mockImplementationOnce(async () => json(200, { id: 'u' }));
    const res = await authFetch(`${ORIGIN}/api/me`);
    expect(res.status).toBe(200);
    expect(calls.refresh).toBe(0);
  });

  it('ends the session when the refresh is refused, and gives the 401 back', async () => {
    const { calls } = fakeServer({ refreshStatus: 401 });
    recordTokens(tokens(), Date.now() - 60_000);
    const events: string[] = [];
    const off = onSessionEvent((e) => events.push(e));
    const res = await authFetch(`${ORIGIN}/api/me`);
    off();
    expect(res.status).toBe(401);
    expect(calls.refresh).toBe(1);
    expect(events).toContain('ended');
    expect(readSession()).toBeNull();
  });

  it('never refreshes on the auth endpoints themselves', async () => {
    const { calls, fetchMock } = fakeServer();
    fetchMock.mockImplementationOnce(async () => json(401, { error: { code: 'invalid_credentials', message: 'no' } }));
    const res = await authFetch(`${ORIGIN}/api/auth/login`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(calls.refresh).toBe(0);
  });

  it('refreshes ahead of a known expiry instead of earning a 401', async () => {
    const { calls, fetchMock } = fakeServer();
    recordTokens(tokens(1_000), Date.now() - 60_000); // expires in 1 s, refreshed long ago
    fetchMock.mockClear();
    await authFetch(`${ORIGIN}/api/me`);
    const paths = fetchMock.mock.calls.map(([input]) => new URL(input instanceof Request ? input.url : String(input)).pathname);
    expect(paths).toEqual(['/api/auth/refresh', '/api/me']);
    expect(calls.refresh).toBe(1);
  });
});

describe('refreshSession across tabs', () => {
  it('holds the Web Lock and skips a refresh another tab made while it waited', async () => {
    const { calls } = fakeServer();
    // A lock manager shared by two "tabs": requests run one after another.
    let tail: Promise<unknown> = Promise.resolve();
    const request = vi.fn((_name: string, _opts: unknown, run: () => Promise<unknown>) => {
      const next = tail.then(run);
      tail = next.catch(() => undefined);
      return next;
    });
    vi.stubGlobal('navigator', { ...navigator, locks: { request } });

    const sentAt = Date.now() - 1;
    const tabA = refreshSession({ sentAt });
    resetSessionForTests(); // the second call stands for another tab: no shared promise
    const tabB = refreshSession({ sentAt });
    await expect(Promise.all([tabA, tabB])).resolves.toEqual([true, true]);
    expect(request).toHaveBeenCalledTimes(2);
    expect(request.mock.calls[0]?.[0]).toBe('tessera-auth-refresh');
    expect(calls.refresh).toBe(1);
  });
});
