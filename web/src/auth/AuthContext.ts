import { createContext, useContext } from 'react';

import type { Schema } from '../api/client';

export type Me = Schema<'MeResponse'>;

/**
 * What a sign-up came to: `signed_in` at once (the server lets new accounts in), or
 * `awaiting_approval` (an administrator approves it first; nobody is signed in, and the answer
 * says nothing about whether the address already had an account).
 */
export type SignUpOutcome = 'signed_in' | 'awaiting_approval';

export interface AuthState {
  /** `undefined` while the first `GET /api/me` runs, `null` when signed out. */
  user: Me | null | undefined;
  /** `unreachable`: the server could not say who is signed in (offline, 5xx); see `retry`. */
  status: 'loading' | 'signed-in' | 'signed-out' | 'unreachable';
  /** The error behind `unreachable`. */
  error: unknown;
  /** Asks the server again who is signed in. */
  retry: () => void;
  isAdmin: boolean;
  signIn: (body: Schema<'LoginRequest'>) => Promise<Me>;
  /** Asks for an account; signs in when the server lets it in at once. */
  signUp: (body: Schema<'RegisterRequest'>) => Promise<SignUpOutcome>;
  /** Creates the first administrator with the setup link's token, and signs them in. */
  setUp: (body: Schema<'SetupRequest'>) => Promise<Me>;
  signOut: () => Promise<void>;
}

export const AuthContext = createContext<AuthState | null>(null);

/** The signed-in user and the sign-in/out actions. */
export function useAuth(): AuthState {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth needs an <AuthProvider> above it');
  return auth;
}

/** The signed-in user, inside pages behind `RequireAuth` (where there always is one). */
export function useMe(): Me {
  const { user } = useAuth();
  if (!user) throw new Error('useMe is for signed-in pages (behind RequireAuth)');
  return user;
}
