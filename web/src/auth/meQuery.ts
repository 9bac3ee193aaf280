import { api, call } from '../api/client';
import { ApiError } from '../api/errors';
import { queryKeys } from '../api/queryKeys';
import type { Me } from './AuthContext';

/** The current user, or `null` when there is no usable session. */
async function fetchMe(): Promise<Me | null> {
  try {
    return await call(api.GET('/api/me'));
  } catch (err) {
    // authFetch already tried a refresh: a 401 now means signed out.
    if (err instanceof ApiError && (err.status === 401 || err.is('account_disabled'))) return null;
    throw err;
  }
}

/** Who is signed in: the AuthProvider's query (also started before the first render, see prefetch.ts). */
export const meQuery = { queryKey: queryKeys.me, queryFn: fetchMe, staleTime: 5 * 60_000 };
