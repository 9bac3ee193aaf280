import { describe, expect, it } from 'vitest';

import { addDays, chartData, METRICS, niceScale, percentOf, type DayUsage, type Metric } from './usageData';

function row(day: string, modality: string, patch: Partial<DayUsage> = {}): DayUsage {
  return {
    day,
    modality,
    uploads: 0,
    bytes_uploaded: 0,
    bytes_released: 0,
    processing_seconds: 0,
    tokens_in: 0,
    tokens_out: 0,
    audio_seconds: 0,
    generations: 0,
    ...patch,
  };
}

const uploads = METRICS.find((m) => m.id === 'uploads') as Metric;
const tokens = METRICS.find((m) => m.id === 'tokens') as Metric;

describe('usage data', () => {
  it('counts calendar days across month ends', () => {
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
  });

  it('gives every one of the 30 days a slot, zero where nothing happened', () => {
    const data = chartData([row('2026-03-10', 'image', { uploads: 2 })], uploads, '2026-03-10');
    expect(data.days).toHaveLength(30);
    expect(data.days[0]?.day).toBe('2026-02-09');
    expect(data.days.at(-1)).toEqual({ day: '2026-03-10', values: [2], total: 2 });
    expect(data.days.slice(0, -1).every((d) => d.total === 0)).toBe(true);
  });

  it('stacks modalities in a fixed order and sums the metric per day', () => {
    const rows = [
      row('2026-03-10', 'video', { uploads: 1 }),
      row('2026-03-10', 'text', { uploads: 3 }),
      row('2026-03-09', 'image', { uploads: 5 }),
      row('2026-03-09', 'zz-other', { uploads: 1 }),
    ];
    const data = chartData(rows, uploads, '2026-03-10', 2);
    expect(data.modalities).toEqual(['text', 'image', 'video', 'zz-other']);
    expect(data.days).toEqual([
      { day: '2026-03-09', values: [0, 5, 0, 1], total: 6 },
      { day: '2026-03-10', values: [3, 0, 1, 0], total: 4 },
    ]);
    expect(data.max).toBe(6);
    expect(data.total).toBe(10);
  });

  it('adds tokens read and written', () => {
    const data = chartData([row('2026-03-10', 'text', { tokens_in: 100, tokens_out: 20 })], tokens, '2026-03-10', 1);
    expect(data.total).toBe(120);
  });

  it('rounds the axis up to a readable step', () => {
    expect(niceScale(0)).toEqual({ top: 4, step: 1 });
    expect(niceScale(7)).toEqual({ top: 8, step: 2 });
    expect(niceScale(930)).toEqual({ top: 1000, step: 250 });
  });

  it('reads a limit of zero with any use as full', () => {
    expect(percentOf(5, 10)).toBe(50);
    expect(percentOf(1, 0)).toBe(100);
    expect(percentOf(0, 0)).toBe(0);
  });
});
