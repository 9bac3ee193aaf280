/**
 * The typed API client. Every call goes through `authFetch` (cookies, refresh on 401) and every
 * type comes from `schema.d.ts`, generated from `web/openapi.json` (`npm run generate`): never
 * write a request or response type by hand.
 *
 *   const me = await call(api.GET('/api/me'));
 *   await call(api.DELETE('/api/me/api-keys/{id}', { params: { path: { id } } }));
 */
import createClient from 'openapi-fetch';

import { ApiError } from './errors';
import type { components, paths } from './schema';
import { authFetch } from './session';

export const api = createClient<paths>({
  // Absolute, so that `new Request` also works outside a page (tests); same origin always.
  baseUrl: typeof window !== 'undefined' ? window.location.origin : '',
  credentials: 'same-origin',
  headers: { accept: 'application/json' },
  fetch: (request: Request) => authFetch(request),
});

/** A schema type by name: `Schema<'MeResponse'>`. */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];

interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The success body of a call's result; `undefined` for endpoints that answer 204. */
export type DataOf<R extends FetchResult> = [Exclude<R['data'], undefined>] extends [never] ? undefined : Exclude<R['data'], undefined>;

/** The data of a successful call; throws an `ApiError` otherwise. */
export async function call<R extends FetchResult>(pending: Promise<R>): Promise<DataOf<R>> {
  const result = await pending;
  if (result.response.ok) return result.data as DataOf<R>;
  throw ApiError.fromBody(result.response, result.error);
}
