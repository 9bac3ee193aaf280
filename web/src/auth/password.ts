/** The server's password policy (src/auth/password.rs), checked as the user types. */
export const PASSWORD_MIN_CHARS = 10;
export const PASSWORD_MAX_CHARS = 256;

export interface PasswordCheck {
  longEnough: boolean;
  /** How many of: lowercase, uppercase, digits, symbols. */
  kinds: number;
  mixed: boolean;
  ok: boolean;
}

export function checkPassword(password: string): PasswordCheck {
  const chars = [...password];
  let lower = false;
  let upper = false;
  let digit = false;
  let other = false;
  for (const c of chars) {
    if (c !== c.toUpperCase() && c === c.toLowerCase()) lower = true;
    else if (c !== c.toLowerCase() && c === c.toUpperCase()) upper = true;
    else if (/\p{N}/u.test(c)) digit = true;
    else other = true;
  }
  const kinds = [lower, upper, digit, other].filter(Boolean).length;
  const longEnough = chars.length >= PASSWORD_MIN_CHARS && chars.length <= PASSWORD_MAX_CHARS;
  return { longEnough, kinds, mixed: kinds >= 2, ok: longEnough && kinds >= 2 };
}
