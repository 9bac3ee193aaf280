import { describe, expect, it, vi } from 'vitest';

import { listQuery, readFilters, writeFilters } from './filters';
import { ProcessingTracker } from './processing';
import { tagChanges, parseTags } from './tags';
import { foldPeaks } from './Waveform';
import { titleFromText } from './NoteDialog';
import { uploadErrorMessage } from './messages';
import { ApiError } from '../../api/errors';

const ev = (stream: string, event_type: string, payload: Record<string, unknown>, position = 1) => ({
  position,
  event_id: `e${position}`,
  stream,
  stream_version: position,
  event_type,
  schema_version: 1,
  payload,
  recorded_at: '2026-01-01T00:00:00Z',
});

describe('filters', () => {
  it('round-trips through the address and leaves defaults out', () => {
    const f = readFilters(new URLSearchParams('modality=image&sort=title&view=list&from=2026-01-01&to=bad&trash=1'));
    expect(f).toMatchObject({ modality: 'image', sort: 'title', view: 'list', from: '2026-01-01', to: '', trash: true });
    expect(writeFilters(f).toString()).toBe('trash=1&modality=image&from=2026-01-01&sort=title&view=list');
    expect(writeFilters(readFilters(new URLSearchParams('modality=nope'))).toString()).toBe('');
  });

  it('maps to the list query, with the `to` day inclusive', () => {
    const q = listQuery(readFilters(new URLSearchParams('sort=largest&to=2026-03-04&tag= x ')));
    expect(q).toMatchObject({ sort: 'size', order: 'desc', tag: 'x' });
    expect(new Date(String(q.to)).getDate()).toBe(5);
    expect(listQuery(readFilters(new URLSearchParams('trash=1')))).toMatchObject({ deleted: true, sort: 'created_at', order: 'desc' });
  });
});

describe('tags', () => {
  it('parses and diffs', () => {
    expect(parseTags(' a, #b,, a ,c')).toEqual(['a', 'b', 'c']);
    expect(tagChanges(['a', 'b'], ['b', 'c'])).toEqual({ add_tags: ['c'], remove_tags: ['a'] });
  });
});

describe('foldPeaks', () => {
  it('keeps the loudest peak of each bucket', () => {
    expect(foldPeaks([0.1, 0.9, 0.2, 0.3, 1.5, 0], 3)).toEqual([0.9, 0.3, 1]);
    expect(foldPeaks([0.5], 64)).toEqual([0.5]);
    expect(foldPeaks([], 10)).toEqual([]);
  });
});

describe('note titles from pasted text', () => {
  it('takes the first line, shortened', () => {
    expect(titleFromText('\n  Shopping list\nmilk')).toBe('Shopping list');
    expect(titleFromText('x'.repeat(100))).toHaveLength(78);
  });
});

describe('upload errors', () => {
  it('name the quota that was reached', () => {
    const err = new ApiError({ status: 403, code: 'quota_exceeded', message: 'm', field: 'uploads_per_day' });
    expect(uploadErrorMessage(err)).toMatch(/uploads per day/);
    expect(uploadErrorMessage(new ApiError({ status: 415, code: 'unsupported_type', message: 'm' }))).toMatch(/not supported/);
    expect(uploadErrorMessage(new ApiError({ status: 422, code: 'corrupt_audio', message: 'm' }))).toMatch(/audio file seems damaged/);
  });
});

describe('ProcessingTracker', () => {
  it('follows a job from request to success, step by step', () => {
    const t = new ProcessingTracker();
    const seen = vi.fn();
    t.subscribe('c1', seen);
    t.handle(ev('job-j1', 'job.requested', { content_id: 'c1' }));
    expect(t.get('c1')?.phase).toBe('queued');
    t.handle(ev('job-j1', 'job.started', { attempt: 1 }));
    t.handle(ev('job-j1', 'job.progress', { stage: 'classifying', percent: 20 }));
    t.handle(ev('job-j1', 'job.progress', { stage: 'reading text', percent: 45 }));
    expect(t.get('c1')).toMatchObject({ phase: 'running', stage: 'reading text', percent: 45, done: ['classifying'] });
    // Percent never goes back within an attempt (video reports its audio steps lower).
    t.handle(ev('job-j1', 'job.progress', { stage: 'finding speech', percent: 20 }));
    expect(t.get('c1')?.percent).toBe(45);
    t.handle(ev('job-j1', 'job.succeeded', {}));
    expect(t.get('c1')).toMatchObject({ phase: 'finishing', percent: 100 });
    expect(seen).toHaveBeenCalledTimes(6);
  });

  it('marks a retry and a final failure', () => {
    const t = new ProcessingTracker();
    t.handle(ev('job-j2', 'job.requested', { content_id: 'c2' }));
    t.handle(ev('job-j2', 'job.failed', { code: 'model_crashed', retry_at: '2026-01-01T00:00:10Z' }));
    expect(t.get('c2')?.phase).toBe('retrying');
    t.handle(ev('job-j2', 'job.dead_lettered', { code: 'model_crashed' }));
    expect(t.get('c2')).toMatchObject({ phase: 'failed', code: 'model_crashed' });
  });
});
