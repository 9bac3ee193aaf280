import { describe, expect, it } from 'vitest';

import { englishRelative, formatRelative } from './format';

describe('englishRelative', () => {
  it('says what Intl.RelativeTimeFormat says in English', () => {
    const intl = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
    const units: Intl.RelativeTimeFormatUnit[] = ['second', 'minute', 'hour', 'day', 'month', 'year'];
    for (const unit of units) {
      for (const value of [-12345, -1000, -59, -23, -2, -1, 0, 1, 2, 11, 29, 1000]) {
        expect(englishRelative(value, unit)).toBe(intl.format(value, unit));
      }
    }
  });

  it('formats a moment ago as now, and days as days', () => {
    const now = Date.parse('2026-01-10T12:00:00Z');
    expect(formatRelative('2026-01-10T11:59:59.800Z', now)).toBe('now');
    expect(formatRelative('2026-01-09T11:00:00Z', now)).toBe('yesterday');
    expect(formatRelative('2026-01-07T12:00:00Z', now)).toBe('3 days ago');
    expect(formatRelative(null, now)).toBe('—');
  });
});
