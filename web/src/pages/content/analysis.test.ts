import { describe, expect, it } from 'vitest';

import { formatClock, readAnalysis, segmentAt } from './analysis';

describe('readAnalysis', () => {
  const step = (run_ms: number, cached: boolean) => ({
    step: 'image.labels',
    model_id: 'm',
    model_version: '1',
    model_sha256: 'ab',
    parameters: {},
    run_ms,
    cached,
  });

  it('orders and trims the findings as the page shows them', () => {
    const a = readAnalysis({
      modality: 'image',
      labels: [
        { index: 1, name: 'cat', score: 0.2 },
        { index: 2, name: 'dog', score: 0.9 },
      ],
      ocr: {
        text: ' Hi ',
        lines: [
          { text: 'Hi', score: 0.9, box: [[0, 0], [1, 0], [1, 1], [0, 1]] },
          { text: ' ', score: 0.1, box: [[0, 0], [1, 0], [1, 1], [0, 1]] },
        ],
      },
      exif: { captured_at: null, camera_make: 'Pentax', camera_model: null, orientation: 1, gps: null },
      description: '  a dog  ',
      embeddings: { chunks: 1, dimensions: 384 },
      provenance: [step(10, false), step(5, true)],
    });
    expect(a.labels.map((l) => l.name)).toEqual(['dog', 'cat']);
    expect(a.ocrText).toBe('Hi');
    expect(a.ocrLines).toHaveLength(1);
    expect(a.description).toBe('a dog');
    expect(a.exif).toEqual({ camera: 'Pentax' });
    // One step per model, run times added, cached only if every run was.
    expect(a.provenance).toEqual([expect.objectContaining({ step: 'image.labels', runMs: 15, cached: false })]);
  });

  it('puts segments and keyframes in time order', () => {
    const a = readAnalysis({
      modality: 'video',
      keyframes: [
        { index: 1, time: 3, labels: [], ocr_text: ' sign ', url: '/k/1' },
        { index: 0, time: 0, labels: [{ index: 5, name: 'poster', score: 0.5 }], ocr_text: '', url: '/k/0' },
      ],
      has_audio: true,
      transcript: {
        text: 'first later',
        segments: [
          { start: 5, end: 6, text: 'later' },
          { start: 1, end: 2, text: ' first ' },
        ],
      },
      summary: '  short  ',
      embeddings: { chunks: 2, dimensions: 384 },
      provenance: [],
    });
    expect(a.segments.map((s) => s.text)).toEqual(['first', 'later']);
    expect(a.keyframes.map((k) => k.url)).toEqual(['/k/0', '/k/1']);
    expect(a.keyframes[1]?.ocrText).toBe('sign');
    expect(a.summary).toBe('short');
  });

  it('reads nothing from no analysis', () => {
    for (const v of [undefined, null]) {
      expect(readAnalysis(v)).toMatchObject({ labels: [], ocrLines: [], segments: [], keyframes: [], provenance: [] });
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

describe('statements', () => {
  it('name the source of every sentence and keep the uncertain mark', () => {
    const a = readAnalysis({
      modality: 'video',
      keyframes: [],
      has_audio: true,
      transcript: null,
      summary: '[0:04] Said: “Hello.”',
      description: 'Possibly a tabby cat (20%). Speech from 0:04: “Hello.”',
      statements: [
        { text: 'Possibly a tabby cat (20%).', source: { kind: 'keyframe', at: 0 }, confidence: 0.2, uncertain: true },
        { text: 'Speech from 0:04: “Hello.”', source: { kind: 'transcript', start: 4.2, end: 5 } },
      ],
      timeline: [{ text: '[0:04] Said: “Hello.”', source: { kind: 'transcript', start: 4.2, end: 5 } }],
      embeddings: { chunks: 1, dimensions: 384 },
      provenance: [],
    });
    expect(a.statements).toEqual([
      { text: 'Possibly a tabby cat (20%).', source: 'keyframe at 0:00', confidence: 0.2, uncertain: true },
      { text: 'Speech from 0:04: “Hello.”', source: 'transcript at 0:04', uncertain: false },
    ]);
    expect(a.timeline.map((s) => s.source)).toEqual(['transcript at 0:04']);
    expect(readAnalysis(null).statements).toEqual([]);
  });
});

describe('formatClock', () => {
  it('writes minutes and hours', () => {
    expect(formatClock(0)).toBe('0:00');
    expect(formatClock(65.4)).toBe('1:05');
    expect(formatClock(3725)).toBe('1:02:05');
  });
});
