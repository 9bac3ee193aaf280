import { useId, type ReactNode } from 'react';

import { cx } from '../../ui/cx';
import { percentOf } from './usageData';

/** The bar's colour: calm, then a warning from 75 %, then red from 90 %. */
function tone(percent: number): string {
  if (percent >= 90) return 'bg-red-500';
  if (percent >= 75) return 'bg-amber-500';
  return 'bg-brand-500';
}

export interface MeterProps {
  label: string;
  used: number;
  /** Absent: the counter has no limit (no bar, just the number). */
  limit?: number | undefined;
  format: (n: number) => string;
  /** A line under the numbers (e.g. "12 items"). */
  note?: ReactNode;
  icon?: ReactNode;
  className?: string;
}

/**
 * One counter against its limit: the number, "of <limit>", a bar (`role="meter"`, with the same
 * words as its value text) and the percentage. Over the limit it says so in words, not only red.
 */
export function Meter({ label, used, limit, format, note, icon, className }: MeterProps) {
  const id = useId();
  const hasLimit = limit !== undefined;
  const percent = hasLimit ? percentOf(used, limit) : 0;
  const shown = Math.round(percent);
  const full = hasLimit && used >= limit && (limit > 0 || used > 0);
  const valueText = hasLimit ? `${format(used)} of ${format(limit)} (${shown}%)` : `${format(used)}, no limit`;
  return (
    <section
      aria-labelledby={`${id}-label`}
      className={cx('rounded-xl border border-zinc-200 bg-white p-4 shadow-xs dark:border-zinc-800 dark:bg-zinc-900/60', className)}
    >
      <div className="flex items-center justify-between gap-2">
        <h3 id={`${id}-label`} className="flex items-center gap-2 text-sm font-medium text-zinc-600 dark:text-zinc-400">
          {icon}
          {label}
        </h3>
        {hasLimit ? (
          <span
            className={cx(
              'text-xs font-medium tabular-nums',
              full ? 'text-red-600 dark:text-red-400' : percent >= 75 ? 'text-amber-700 dark:text-amber-400' : 'text-zinc-500 dark:text-zinc-400',
            )}
          >
            {full ? 'Limit reached' : `${shown}%`}
          </span>
        ) : (
          <span className="text-xs text-zinc-500 dark:text-zinc-400">No limit</span>
        )}
      </div>
      <p className="mt-2 flex flex-wrap items-baseline gap-x-1.5 text-zinc-900 dark:text-zinc-50">
        <span className="text-2xl font-semibold tracking-tight tabular-nums">{format(used)}</span>
        {hasLimit && <span className="text-sm text-zinc-500 dark:text-zinc-400">of {format(limit)}</span>}
      </p>
      {hasLimit ? (
        <div
          role="meter"
          aria-labelledby={`${id}-label`}
          aria-valuemin={0}
          aria-valuemax={Math.max(limit, used)}
          aria-valuenow={used}
          aria-valuetext={valueText}
          className="mt-3 h-2 overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
        >
          <div
            className={cx('h-full rounded-full transition-[width] duration-500', tone(percent))}
            style={{ width: `${Math.min(100, Math.max(percent > 0 ? 1.5 : 0, percent))}%` }}
          />
        </div>
      ) : (
        <div aria-hidden="true" className="mt-3 h-2 rounded-full bg-[repeating-linear-gradient(90deg,var(--color-zinc-200)_0_6px,transparent_6px_10px)] dark:bg-[repeating-linear-gradient(90deg,var(--color-zinc-800)_0_6px,transparent_6px_10px)]" />
      )}
      <div className="mt-2 min-h-4 text-xs text-zinc-500 dark:text-zinc-400">{note}</div>
    </section>
  );
}
