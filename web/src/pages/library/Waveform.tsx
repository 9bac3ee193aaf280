import { memo } from 'react';

/** Folds `peaks` into `bars` buckets, keeping each bucket's loudest peak. */
export function foldPeaks(peaks: readonly number[], bars: number): number[] {
  if (peaks.length === 0) return [];
  const n = Math.min(bars, peaks.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * peaks.length) / n);
    const to = Math.max(from + 1, Math.floor(((i + 1) * peaks.length) / n));
    let max = 0;
    for (let j = from; j < to; j++) max = Math.max(max, Math.abs(peaks[j] ?? 0));
    out.push(Math.min(1, max));
  }
  return out;
}

/** An audio item's waveform: one SVG path of mirrored bars (decorative; the card names the item). */
export const Waveform = memo(function Waveform({ peaks, bars = 64, className }: { peaks: readonly number[]; bars?: number; className?: string }) {
  const folded = foldPeaks(peaks, bars);
  const w = 2;
  const gap = 1;
  const width = folded.length * (w + gap);
  const d = folded
    .map((p, i) => {
      const h = Math.max(1, p * 36);
      return `M${i * (w + gap)} ${20 - h / 2}h${w}v${h}h-${w}z`;
    })
    .join('');
  return (
    <svg viewBox={`0 0 ${Math.max(width, 1)} 40`} preserveAspectRatio="none" aria-hidden="true" focusable="false" className={className} data-bars={folded.length}>
      <path d={d} fill="currentColor" />
    </svg>
  );
});
