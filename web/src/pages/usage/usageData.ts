/** Pure helpers for the usage page: numbers in words, and the daily rows shaped for the chart. */
import type { Schema } from '../../api/client';
import { formatBytes } from '../../ui/format';

export type DayUsage = Schema<'DayUsage'>;

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

export function formatCount(n: number): string {
  return Math.abs(n) >= 100_000 ? compact.format(n) : integer.format(n);
}

/** "45 s", "12 min", "3.5 h". */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 && seconds % 1 !== 0 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  if (seconds < 600) return `${Number((seconds / 60).toFixed(1))} min`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  const h = seconds / 3600;
  return `${h < 10 ? h.toFixed(1) : Math.round(h)} h`;
}

/** What the chart can show, and how to read and write each one. */
export interface Metric {
  id: 'uploads' | 'bytes' | 'processing' | 'tokens' | 'audio';
  label: string;
  value: (row: DayUsage) => number;
  format: (n: number) => string;
}

export const METRICS: Metric[] = [
  { id: 'uploads', label: 'Uploads', value: (r) => r.uploads, format: formatCount },
  { id: 'bytes', label: 'Data uploaded', value: (r) => r.bytes_uploaded, format: formatBytes },
  { id: 'processing', label: 'Processing', value: (r) => r.processing_seconds, format: formatSeconds },
  { id: 'tokens', label: 'Tokens', value: (r) => r.tokens_in + r.tokens_out, format: formatCount },
  { id: 'audio', label: 'Audio', value: (r) => r.audio_seconds, format: formatSeconds },
];

/** The order (and colour) of the stacks; unknown modalities follow, in name order. */
export const MODALITY_ORDER = ['text', 'image', 'audio', 'video'];

export function modalityLabel(m: string): string {
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** `YYYY-MM-DD` `n` days before `day` (UTC calendar arithmetic). */
export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export interface ChartDay {
  day: string;
  /** Value per modality, in `modalities` order. */
  values: number[];
  total: number;
}

export interface ChartData {
  modalities: string[];
  days: ChartDay[];
  max: number;
  total: number;
}

/**
 * The `count` days ending on `lastDay`, each with one value per modality (zero where the server
 * sent no row), so that quiet days still get their slot on the axis.
 */
export function chartData(rows: DayUsage[], metric: Metric, lastDay: string, count = 30): ChartData {
  const seen = new Set(rows.map((r) => r.modality));
  const modalities = [...MODALITY_ORDER.filter((m) => seen.has(m)), ...[...seen].filter((m) => !MODALITY_ORDER.includes(m)).sort()];
  const byDay = new Map<string, DayUsage[]>();
  for (const r of rows) byDay.set(r.day, [...(byDay.get(r.day) ?? []), r]);
  const days: ChartDay[] = [];
  let max = 0;
  let total = 0;
  for (let i = count - 1; i >= 0; i--) {
    const day = addDays(lastDay, -i);
    const dayRows = byDay.get(day) ?? [];
    const values = modalities.map((m) => dayRows.filter((r) => r.modality === m).reduce((s, r) => s + metric.value(r), 0));
    const dayTotal = values.reduce((s, v) => s + v, 0);
    max = Math.max(max, dayTotal);
    total += dayTotal;
    days.push({ day, values, total: dayTotal });
  }
  return { modalities, days, max, total };
}

/** A round number ≥ `max` for the top of the axis, and its steps. */
export function niceScale(max: number, ticks = 4): { top: number; step: number } {
  if (max <= 0) return { top: ticks, step: 1 };
  const rough = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / mag;
  const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  const step = nice * mag;
  return { top: step * Math.ceil(max / step), step };
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** "Mar 4" for `2026-03-04`. */
export function formatDay(day: string): string {
  return dayFormat.format(new Date(`${day}T00:00:00Z`));
}

/** Share of a limit, 0–100+ (a limit of 0 with any use is over). */
export function percentOf(used: number, limit: number): number {
  if (limit <= 0) return used > 0 ? 100 : 0;
  return (used / limit) * 100;
}
