import { useId, type InputHTMLAttributes, type ReactNode, type Ref } from 'react';

import { cx } from './cx';

export const inputClass =
  'block h-10 w-full rounded-lg border border-zinc-300 bg-white px-3 text-sm text-zinc-900 shadow-sm ' +
  'placeholder:text-zinc-400 focus:border-brand-500 focus:outline-2 focus:outline-offset-0 focus:outline-brand-500/30 ' +
  'disabled:cursor-not-allowed disabled:opacity-60 ' +
  'dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100 dark:placeholder:text-zinc-500 ' +
  'aria-invalid:border-red-500 aria-invalid:focus:outline-red-500/30';

export interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> {
  label: string;
  /** Help shown under the field (also read by screen readers). */
  hint?: ReactNode;
  /** Shown under the field and marks it invalid. */
  error?: string | undefined;
  ref?: Ref<HTMLInputElement>;
}

/** A labelled input with its hint and error wired to `aria-describedby`. */
export function TextField({ label, hint, error, className, ...rest }: TextFieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={cx('space-y-1.5', className)}>
      <label htmlFor={id} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
        {label}
      </label>
      <input id={id} className={inputClass} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...rest} />
      {hint && (
        <div id={hintId} className="text-xs text-zinc-500 dark:text-zinc-400">
          {hint}
        </div>
      )}
      {error && (
        <p id={errorId} className="text-xs font-medium text-red-600 dark:text-red-400">
          {error}
        </p>
      )}
    </div>
  );
}

/** A form-level error (not tied to one field), announced when it appears. */
export function FormError({ children }: { children?: ReactNode }) {
  return (
    <div role="alert" aria-live="assertive" className="empty:hidden">
      {children && (
        <p className="rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-700 dark:border-red-900/60 dark:bg-red-950/40 dark:text-red-300">
          {children}
        </p>
      )}
    </div>
  );
}
