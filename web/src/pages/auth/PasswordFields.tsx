import { checkPassword, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, type PasswordCheck } from '../../auth/password';
import { cx } from '../../ui/cx';
import { TextField } from '../../ui/Field';
import { CheckIcon } from '../../ui/icons';

function Rule({ ok, children }: { ok: boolean; children: string }) {
  return (
    <li className={cx('flex items-center gap-1.5', ok ? 'text-emerald-600 dark:text-emerald-400' : 'text-zinc-500 dark:text-zinc-400')}>
      <CheckIcon className={cx('size-3.5', !ok && 'opacity-30')} />
      {children}
      <span className="sr-only">{ok ? '(met)' : '(not met yet)'}</span>
    </li>
  );
}

/** The server's password rules: the length ticked off as the user types, and the advice that
 *  makes a password hard to guess (which the server estimates). */
export function PasswordRules({ check }: { check: PasswordCheck }) {
  return (
    <ul className="mt-1 space-y-1">
      <Rule ok={check.longEnough}>{`At least ${PASSWORD_MIN_CHARS} characters`}</Rule>
      <li className="text-zinc-500 dark:text-zinc-400">
        Hard to guess: no common words, names, dates or keyboard patterns. A few unusual words work well.
      </li>
    </ul>
  );
}

export interface NewPasswordErrors {
  password?: string;
  confirm?: string;
}

/** The client's checks of a new password and its repetition (none: the form may be sent). */
export function newPasswordErrors(password: string, confirm: string): NewPasswordErrors {
  const errors: NewPasswordErrors = {};
  if (!checkPassword(password).ok) errors.password = `Use at least ${PASSWORD_MIN_CHARS} characters.`;
  if (confirm !== password) errors.confirm = 'The two passwords do not match.';
  return errors;
}

/** A new password with its rules, and the same again to catch a typo. */
export function NewPasswordFields({
  label = 'Password',
  password,
  confirm,
  onPassword,
  onConfirm,
  errors,
}: {
  label?: string;
  password: string;
  confirm: string;
  onPassword: (v: string) => void;
  onConfirm: (v: string) => void;
  errors: NewPasswordErrors;
}) {
  return (
    <>
      <TextField
        label={label}
        type="password"
        name="new_password"
        autoComplete="new-password"
        required
        minLength={PASSWORD_MIN_CHARS}
        maxLength={PASSWORD_MAX_CHARS}
        value={password}
        onChange={(e) => onPassword(e.target.value)}
        error={errors.password}
        hint={<PasswordRules check={checkPassword(password)} />}
      />
      <TextField
        label={`Confirm ${label.toLowerCase()}`}
        type="password"
        name="confirm_password"
        autoComplete="new-password"
        required
        maxLength={PASSWORD_MAX_CHARS}
        value={confirm}
        onChange={(e) => onConfirm(e.target.value)}
        error={errors.confirm}
      />
    </>
  );
}
