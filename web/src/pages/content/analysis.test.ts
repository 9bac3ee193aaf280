import { describe, expect, it } from 'vitest';

import { formatClock, parseAnalysis, segmentAt } from './analysis';

describe('parseAnalysis', () => {
  it('keeps what fits and drops what does not', () => {
    const a = parseAnalysis({
      labels: [{ name: 'cat', score: 0.2 }, { name: 'dog', score: 0.9 }, { name: 3 }],
      ocr: { text: ' Hi ', lines: [{ text: 'Hi', score: 0.9, box: [[0, 0], [1, 0], [1, 1], [0, 1]] }, { text: 'bad', box: [[0, 0]] }] },
      transcript: { text: 'x', segments: [{ start: 5, end: 6, text: 'later' }, { start: 1, end: 2, text: ' first ' }, { start: 'x', text: 'no' }] },
      summary: '  short  ',
      provenance: [
        { step: 'image.labels', model_id: 'm', model_version: '1', run_ms: 10, cached: false },
        { step: 'image.labels', model_id: 'm', model_version: '1', run_ms: 5, cached: true },
        { nope: true },
      ],
    });
    expect(a.labels.map((l) => l.name)).toEqual(['dog', 'cat']);
    expect(a.ocrText).toBe('Hi');
    expect(a.ocrLines).toHaveLength(1);
    expect(a.segments.map((s) => s.text)).toEqual(['first', 'later']);
    expect(a.summary).toBe('short');
    // One step per model, run times added, cached only if every run was.
    expect(a.provenance).toEqual([expect.objectContaining({ step: 'image.labels', runMs: 15, cached: false })]);
  });

  it('reads nothing from nothing', () => {
    for (const v of [undefined, null, 'x', 3, []]) {
      expect(parseAnalysis(v)).toMatchObject({ labels: [], ocrLines: [], segments: [], keyframes: [], provenance: [] });
    }
  });
});

describe('segmentAt', () => {
  const segs = [0.5, 2, 4].map((start) => ({ start, end: start + 1, text: 't' }));
  it('is the last segment that has started', () => {
    expect(segmentAt(segs, 0)).toBe(-1);
    expect(segmentAt(segs, 0.5)).toBe(0);
    expect(segmentAt(segs, 3.9)).toBe(1);
    expect(segmentAt(segs, 100)).toBe(2);
    expect(segmentAt([], 1)).toBe(-1);
  });
});

describe('formatClock', () => {
  it('writes minutes and hours', () => {
    expect(formatClock(0)).toBe('0:00');
    expect(formatClock(65.4)).toBe('1:05');
    expect(formatClock(3725)).toBe('1:02:05');
  });
});
