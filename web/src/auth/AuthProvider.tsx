import { type QueryClient, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useMemo, type ReactNode } from 'react';

import { api, call, type Schema } from '../api/client';
import { queryKeys } from '../api/queryKeys';
import { endSession, keepSessionFresh, onSessionEvent, recordTokens } from '../api/session';
import { AuthContext, type AuthState, type Me, type SignUpOutcome } from './AuthContext';
import { meQuery } from './meQuery';

/**
 * Signed out: `me` becomes `null` and every other cached answer (the last user's) goes. The `me`
 * query itself is updated, never removed: its observer (this provider) would otherwise keep
 * showing the removed query's user, and the sign-in page would send a signed-out user back in.
 */
function forgetUser(queryClient: QueryClient) {
  queryClient.setQueryData(queryKeys.me, null);
  queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== queryKeys.me[0] });
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const me = useQuery(meQuery);
  const user = me.data;
  const signedIn = !!user;

  // The session ended (refresh refused, signed out in another tab, account disabled): drop every
  // cached answer, which belonged to that user, and let the guards send the user to sign in.
  useEffect(
    () =>
      onSessionEvent((e) => {
        if (e !== 'ended') return;
        forgetUser(queryClient);
      }),
    [queryClient],
  );

  // Another tab signed in: pick the user up here too.
  useEffect(
    () =>
      onSessionEvent((e) => {
        if (e === 'refreshed' && queryClient.getQueryData(queryKeys.me) === null) {
          void queryClient.invalidateQueries({ queryKey: queryKeys.me });
        }
      }),
    [queryClient],
  );

  useEffect(() => (signedIn ? keepSessionFresh() : undefined), [signedIn]);

  const afterTokens = useCallback(
    async (tokens: Schema<'TokenResponse'>): Promise<Me> => {
      recordTokens(tokens);
      // Whatever was cached belonged to whoever was signed in before.
      queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== queryKeys.me[0] });
      const fresh = await call(api.GET('/api/me'));
      queryClient.setQueryData(queryKeys.me, fresh);
      return fresh;
    },
    [queryClient],
  );

  const signIn = useCallback(
    async (body: Schema<'LoginRequest'>) => afterTokens(await call(api.POST('/api/auth/login', { body }))),
    [afterTokens],
  );

  const signUp = useCallback(
    async (body: Schema<'RegisterRequest'>): Promise<SignUpOutcome> => {
      const sent = api.POST('/api/auth/register', { body });
      const answer = await call(sent);
      // 202 `SignUpRequested`: an administrator approves the account first; no tokens, no user.
      // (Its body, which alone has `status`, tells the two answers apart for the type checker.)
      if ((await sent).response.status === 202 || 'status' in answer) return 'awaiting_approval';
      await afterTokens(answer);
      return 'signed_in';
    },
    [afterTokens],
  );

  const setUp = useCallback(
    async (body: Schema<'SetupRequest'>) => afterTokens(await call(api.POST('/api/auth/setup', { body }))),
    [afterTokens],
  );

  const signOut = useCallback(async () => {
    try {
      // Revokes the session server-side (the refresh cookie goes with the request).
      await call(api.POST('/api/auth/logout', { body: {} }));
    } catch {
      // Signed out locally all the same; the cookies expire on their own.
    }
    endSession();
    forgetUser(queryClient);
  }, [queryClient]);

  const { refetch } = me;
  const retry = useCallback(() => void refetch(), [refetch]);
  // A failed refetch keeps the last user: only a first load that failed is "unreachable".
  const unreachable = me.isError && user === undefined;

  const value = useMemo<AuthState>(
    () => ({
      user: me.isPending || unreachable ? undefined : (user ?? null),
      status: me.isPending ? 'loading' : unreachable ? 'unreachable' : user ? 'signed-in' : 'signed-out',
      error: me.error,
      retry,
      isAdmin: user?.role === 'admin',
      signIn,
      signUp,
      setUp,
      signOut,
    }),
    [me.isPending, me.error, unreachable, user, retry, signIn, signUp, setUp, signOut],
  );

  return <AuthContext value={value}>{children}</AuthContext>;
}
