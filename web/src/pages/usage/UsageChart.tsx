import { useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';

import { cx } from '../../ui/cx';
import { chartData, formatDay, METRICS, modalityLabel, niceScale, type DayUsage, type Metric } from './usageData';

/** Fill (SVG) and background (legend) classes per modality; others cycle through the spares. */
const COLOURS: Record<string, [string, string]> = {
  text: ['fill-sky-500', 'bg-sky-500'],
  image: ['fill-brand-500', 'bg-brand-500'],
  audio: ['fill-amber-500', 'bg-amber-500'],
  video: ['fill-emerald-500', 'bg-emerald-500'],
};
const SPARE: [string, string][] = [
  ['fill-rose-400', 'bg-rose-400'],
  ['fill-zinc-400', 'bg-zinc-400'],
];

function colour(modality: string, index: number): [string, string] {
  return COLOURS[modality] ?? SPARE[index % SPARE.length] ?? ['fill-zinc-400', 'bg-zinc-400'];
}

const HEIGHT = 220;
const PAD = { top: 8, right: 4, bottom: 24, left: 48 };

/** Tracks an element's width; a sensible default until the first measurement (and in tests). */
function useWidth(fallback: number) {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(fallback);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const now = Math.floor(el.getBoundingClientRect().width);
    if (now > 0) setWidth(Math.max(240, now));
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.max(240, Math.floor(entry.contentRect.width)));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width] as const;
}

export interface UsageChartProps {
  rows: DayUsage[];
  /** The last day on the axis (the server's today, UTC). */
  lastDay: string;
  days?: number;
}

/**
 * Daily usage over the last `days` days as stacked bars per modality, for one metric at a time.
 * Plain SVG. For assistive technology the picture is one labelled image with a summary, arrow
 * keys read out each day, and a visually hidden table carries every number.
 */
export function UsageChart({ rows, lastDay, days = 30 }: UsageChartProps) {
  const [metric, setMetric] = useState<Metric>(METRICS[0] as Metric);
  const data = useMemo(() => chartData(rows, metric, lastDay, days), [rows, metric, lastDay, days]);
  const [active, setActive] = useState<number | null>(null);
  const [ref, width] = useWidth(720);
  const id = useId();

  const { top, step } = niceScale(data.max);
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / data.days.length;
  const barW = Math.max(2, Math.min(28, slot * 0.68));
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const labelEvery = slot >= 34 ? 3 : slot >= 18 ? 7 : 10;
  const peak = data.days.reduce<(typeof data.days)[number] | null>((best, d) => (d.total > (best?.total ?? 0) ? d : best), null);
  const summary =
    data.total > 0
      ? `${metric.label} per day over the last ${days} days, by modality. Total ${metric.format(data.total)}; busiest day ${formatDay(peak?.day ?? lastDay)} with ${metric.format(peak?.total ?? 0)}. Use the arrow keys to read each day.`
      : `${metric.label} per day over the last ${days} days: none yet.`;

  const onKey = (e: KeyboardEvent) => {
    const last = data.days.length - 1;
    const at = active ?? last + 1;
    let next: number | null = null;
    if (e.key === 'ArrowLeft') next = Math.max(0, at - 1);
    else if (e.key === 'ArrowRight') next = Math.min(last, active === null ? last : at + 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = last;
    else if (e.key === 'Escape') {
      setActive(null);
      return;
    }
    if (next !== null) {
      e.preventDefault();
      setActive(next);
    }
  };

  const activeDay = active !== null ? data.days[active] : undefined;
  const describeDay = (d: (typeof data.days)[number]) =>
    `${formatDay(d.day)}: ${metric.format(d.total)}` +
    (d.total > 0
      ? ` (${data.modalities
          .map((m, i) => [m, d.values[i] ?? 0] as const)
          .filter(([, v]) => v > 0)
          .map(([m, v]) => `${modalityLabel(m)} ${metric.format(v)}`)
          .join(', ')})`
      : '');

  return (
    <section aria-labelledby={`${id}-title`} className="rounded-xl border border-zinc-200 bg-white p-4 sm:p-5 dark:border-zinc-800 dark:bg-zinc-900/60">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-between">
        <div>
          <h2 id={`${id}-title`} className="text-base font-semibold text-zinc-900 dark:text-zinc-50">
            Last {days} days
          </h2>
          <p className="text-sm text-zinc-600 dark:text-zinc-400">
            {metric.label}: <span className="font-medium tabular-nums text-zinc-900 dark:text-zinc-100">{metric.format(data.total)}</span> in all
          </p>
        </div>
        <div role="group" aria-label="Metric" className="-mx-1 flex gap-1 overflow-x-auto px-1 pb-1 sm:pb-0">
          {METRICS.map((m) => (
            <button
              key={m.id}
              type="button"
              aria-pressed={m.id === metric.id}
              onClick={() => {
                setMetric(m);
                setActive(null);
              }}
              className={cx(
                'h-8 shrink-0 rounded-lg px-3 text-sm font-medium transition-colors',
                m.id === metric.id
                  ? 'bg-zinc-900 text-white dark:bg-zinc-100 dark:text-zinc-900'
                  : 'text-zinc-600 hover:bg-zinc-100 dark:text-zinc-400 dark:hover:bg-zinc-800',
              )}
            >
              {m.label}
            </button>
          ))}
        </div>
      </div>

      <div ref={ref} className="relative mt-4 overflow-hidden" style={{ height: HEIGHT }}>
        <div
          role="img"
          tabIndex={0}
          aria-label={summary}
          onKeyDown={onKey}
          onBlur={() => setActive(null)}
          onMouseLeave={() => setActive(null)}
          className="rounded-md focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-500"
        >
          <svg width={width} height={HEIGHT} aria-hidden="true" className="block overflow-visible">
            {Array.from({ length: Math.round(top / step) + 1 }, (_, i) => {
              const v = i * step;
              return (
                <g key={i}>
                  <line
                    x1={PAD.left}
                    x2={width - PAD.right}
                    y1={y(v)}
                    y2={y(v)}
                    className={i === 0 ? 'stroke-zinc-300 dark:stroke-zinc-700' : 'stroke-zinc-200/70 dark:stroke-zinc-800'}
                    strokeDasharray={i === 0 ? undefined : '3 3'}
                  />
                  <text x={PAD.left - 8} y={y(v)} dy="0.32em" textAnchor="end" className="fill-zinc-500 text-[11px] tabular-nums dark:fill-zinc-400">
                    {data.max > 0 || i === 0 ? metric.format(v) : ''}
                  </text>
                </g>
              );
            })}
            {data.days.map((d, i) => {
              const x = PAD.left + i * slot + (slot - barW) / 2;
              let acc = 0;
              return (
                <g key={d.day} onMouseEnter={() => setActive(i)}>
                  {/* A full-height hit area, so thin bars are easy to hover. */}
                  <rect x={PAD.left + i * slot} y={PAD.top} width={slot} height={plotH} className={cx('fill-transparent', active === i && 'fill-zinc-900/5 dark:fill-white/5')} />
                  {d.values.map((v, m) => {
                    if (v <= 0) return null;
                    const y0 = y(acc);
                    acc += v;
                    const y1 = y(acc);
                    const name = data.modalities[m] ?? '';
                    return <rect key={name} x={x} y={y1} width={barW} height={Math.max(1, y0 - y1)} className={cx(colour(name, m)[0], active !== null && active !== i && 'opacity-50')} />;
                  })}
                  {(i % labelEvery === (data.days.length - 1) % labelEvery) && (
                    <text x={PAD.left + i * slot + slot / 2} y={HEIGHT - 6} textAnchor="middle" className="fill-zinc-500 text-[11px] dark:fill-zinc-400">
                      {formatDay(d.day)}
                    </text>
                  )}
                </g>
              );
            })}
          </svg>
        </div>
        {data.total === 0 && (
          <p className="pointer-events-none absolute inset-x-0 top-1/3 text-center text-sm text-zinc-500 dark:text-zinc-400">No {metric.label.toLowerCase()} in this period</p>
        )}
        {activeDay && active !== null && (
          <div
            className="pointer-events-none absolute top-0 z-10 w-max max-w-56 -translate-x-1/2 rounded-lg border border-zinc-200 bg-white px-3 py-2 text-xs shadow-lg dark:border-zinc-700 dark:bg-zinc-800"
            style={{ left: Math.min(width - 90, Math.max(90, PAD.left + active * slot + slot / 2)) }}
          >
            <p className="font-medium text-zinc-900 dark:text-zinc-50">{formatDay(activeDay.day)}</p>
            <p className="tabular-nums text-zinc-600 dark:text-zinc-300">{metric.format(activeDay.total)}</p>
            {activeDay.total > 0 && (
              <ul className="mt-1 space-y-0.5">
                {data.modalities.map((m, i) =>
                  (activeDay.values[i] ?? 0) > 0 ? (
                    <li key={m} className="flex items-center gap-1.5 text-zinc-600 dark:text-zinc-300">
                      <span aria-hidden="true" className={cx('size-2 rounded-sm', colour(m, i)[1])} />
                      {modalityLabel(m)} <span className="ml-auto pl-2 tabular-nums">{metric.format(activeDay.values[i] ?? 0)}</span>
                    </li>
                  ) : null,
                )}
              </ul>
            )}
          </div>
        )}
        <p aria-live="polite" className="sr-only">
          {activeDay ? describeDay(activeDay) : ''}
        </p>
      </div>

      {data.modalities.length > 0 && (
        <ul aria-label="Modalities" className="mt-3 flex flex-wrap gap-x-4 gap-y-1 text-xs text-zinc-600 dark:text-zinc-400">
          {data.modalities.map((m, i) => (
            <li key={m} className="flex items-center gap-1.5">
              <span aria-hidden="true" className={cx('size-2.5 rounded-sm', colour(m, i)[1])} />
              {modalityLabel(m)}
            </li>
          ))}
        </ul>
      )}

      <table className="sr-only">
        <caption>{metric.label} per day and modality, last {days} days</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            {data.modalities.map((m) => (
              <th key={m} scope="col">
                {modalityLabel(m)}
              </th>
            ))}
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          {data.days.map((d) => (
            <tr key={d.day}>
              <th scope="row">{formatDay(d.day)}</th>
              {d.values.map((v, i) => (
                <td key={data.modalities[i]}>{metric.format(v)}</td>
              ))}
              <td>{metric.format(d.total)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
