/**
 * The server's password policy (src/auth/password.rs): the length is checked as the user types;
 * whether the password is hard enough to guess the server decides (zxcvbn) and says
 * `weak_password` when it is not.
 */
export const PASSWORD_MIN_CHARS = 10;
export const PASSWORD_MAX_CHARS = 256;

export interface PasswordCheck {
  longEnough: boolean;
  ok: boolean;
}

export function checkPassword(password: string): PasswordCheck {
  const n = [...password].length;
  const longEnough = n >= PASSWORD_MIN_CHARS && n <= PASSWORD_MAX_CHARS;
  return { longEnough, ok: longEnough };
}
