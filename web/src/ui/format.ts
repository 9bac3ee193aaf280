/** Display formatting, in the browser's locale. */

// Made on first use: the page's first Intl formatter costs tens of milliseconds (the browser
// loads its locale data then), which should not be paid while a page's code is evaluated.
let dateTimeFormat: Intl.DateTimeFormat | undefined;
let relativeFormat: Intl.RelativeTimeFormat | undefined;
const dateTime = () => (dateTimeFormat ??= new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
const relative = () => (relativeFormat ??= new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }));

/**
 * Makes the relative-time formatter (every list shows "3 minutes ago") now, where the browser's
 * language needs one (see `english`): main.tsx does it while the first requests are under way.
 * The date-time one is left to its first use (a detail page, a hover): no list needs it to show.
 */
export function prepareFormatters(): void {
  if (!english()) relative();
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : dateTime().format(d);
}

const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Infinity],
];

/** English words for `value` `unit`s (past when negative), as Intl.RelativeTimeFormat('en', { numeric: 'auto' }) says them. */
export function englishRelative(value: number, unit: Intl.RelativeTimeFormatUnit): string {
  const n = Math.abs(value);
  if (n === 0) return unit === 'second' ? 'now' : unit === 'day' ? 'today' : `this ${unit}`;
  if (n === 1 && unit === 'day') return value < 0 ? 'yesterday' : 'tomorrow';
  if (n === 1 && unit !== 'second' && unit !== 'minute' && unit !== 'hour') return `${value < 0 ? 'last' : 'next'} ${unit}`;
  const amount = `${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} ${unit}${n === 1 ? '' : 's'}`;
  return value < 0 ? `${amount} ago` : `in ${amount}`;
}

/**
 * In an English-speaking browser the words are written here, not by Intl.RelativeTimeFormat:
 * the page's first Intl formatter costs tens of milliseconds in one piece (the browser loads its
 * locale data), and a list would pay that during its first load just to say "3 minutes ago".
 */
const english = () =>
  typeof navigator === 'undefined' || /^en(-|$)/i.test(navigator.language || 'en');

function sayRelative(value: number, unit: Intl.RelativeTimeFormatUnit): string {
  return english() ? englishRelative(value, unit) : relative().format(value, unit);
}

/** "3 minutes ago", "yesterday"; pair it with `formatDateTime` in a title or <time>. */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  let value = (new Date(iso).getTime() - now) / 1000;
  if (Number.isNaN(value)) return '—';
  for (const [unit, size] of STEPS) {
    // `|| 0` turns -0 (a moment ago, rounded) into 0, as Intl does.
    if (Math.abs(value) < size) return sayRelative(Math.round(value) || 0, unit);
    value /= size;
  }
  return '—';
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function formatBytes(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)} ${UNITS[i]}`;
}
