/**
 * Where to go after signing in: the `next` query parameter when it is a path on this site,
 * else the library. Never an absolute or protocol-relative URL (an open redirect).
 */
export function safeNext(next: string | null | undefined, fallback = '/library'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  if (next.startsWith('/signin') || next.startsWith('/signup')) return fallback;
  return next;
}

/** `/signin?next=<where the user was>`. */
export function signInPath(from: { pathname: string; search?: string; hash?: string }): string {
  const here = `${from.pathname}${from.search ?? ''}${from.hash ?? ''}`;
  return here === '/' || here === '' ? '/signin' : `/signin?next=${encodeURIComponent(here)}`;
}
