import { vi } from 'vitest';

type Handler = (ctx: { request: Request; params: Record<string, string>; body: unknown }) => unknown;

/** A JSON response; handlers may also return a plain value (→ 200 JSON) or `null` (→ 204). */
export function jsonResponse(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
  if (body === undefined) return new Response(null, { status, headers });
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** The server's error shape. */
export function apiError(status: number, code: string, message = code, field?: string): Response {
  return jsonResponse(status, { error: { code, message, request_id: 'test', ...(field ? { field } : {}) } });
}

/**
 * Stubs `fetch` with a tiny router keyed by "METHOD /path/{param}", the spelling of the OpenAPI
 * document. Unmatched requests fail the test loudly (404 `unmocked`). Returns the requests seen.
 *
 *   const api = mockApi({ 'GET /api/me/api-keys': () => ({ api_keys: [] }) });
 *   expect(api.calls('DELETE /api/me/api-keys/{id}')).toHaveLength(1);
 */
export function mockApi(routes: Record<string, Handler>) {
  const seen: { route: string; request: Request; body: unknown }[] = [];
  const compiled = Object.entries(routes).map(([key, handler]) => {
    const [method, path = ''] = key.split(' ');
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      })}$`,
    );
    return { key, method, pattern, names, handler };
  });
  // As on the server, a fixed path (`/api/content/tags`) wins over a template (`/api/content/{id}`).
  compiled.sort((a, b) => Number(a.names.length > 0) - Number(b.names.length > 0));
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), window.location.origin), init);
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.clone().text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: the raw text.
    }
    for (const r of compiled) {
      const m = r.method === request.method ? r.pattern.exec(url.pathname) : null;
      if (!m) continue;
      const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
      seen.push({ route: r.key, request, body });
      const out = await r.handler({ request, params, body });
      if (out instanceof Response) return out;
      return out === null ? jsonResponse(204) : jsonResponse(200, out);
    }
    return apiError(404, 'unmocked', `no mock for ${request.method} ${url.pathname}`);
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    fetch: fetchMock,
    calls: (route: string) => seen.filter((s) => s.route === route),
  };
}
