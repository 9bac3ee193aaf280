/** Items as the server sends them, for this folder's tests. */
import type { Item, Job } from './useContentItem';

export const ID = '0190a000-0000-7000-8000-0000000000c1';

const base = {
  id: ID,
  owner: '0190a000-0000-7000-8000-0000000000aa',
  filename: null,
  description: null,
  extension: 'png',
  size: 20_480,
  sha256: 'ab'.repeat(32),
  tags: ['shop'],
  source: 'upload',
  created_at: '2026-01-02T10:00:00Z',
  updated_at: '2026-01-02T10:00:00Z',
  file_url: `/api/content/${ID}/file`,
  version: 5,
  previews: { state: 'ready', images: [] },
};

const provenance = (step: string, model: string, cached = false) => ({
  step,
  model_id: model,
  model_version: '1.0',
  model_sha256: 'cd'.repeat(32),
  parameters: {},
  run_ms: 420,
  cached,
});

export function imageItem(over: Partial<Item> = {}): Item {
  return {
    ...base,
    title: 'Shop sign',
    modality: 'image',
    mime: 'image/png',
    media: { width: 720, height: 200, has_audio: false, has_video: false },
    analysis: {
      state: 'ready',
      result: {
        modality: 'image',
        labels: [
          { index: 1, name: 'street sign', score: 0.2 },
          { index: 2, name: 'billboard', score: 0.71 },
        ],
        ocr: {
          text: 'OPEN DAILY\nFROM NINE',
          lines: [
            { text: 'OPEN DAILY', score: 0.98, box: [[40, 70], [400, 70], [400, 120], [40, 120]] },
            { text: 'FROM NINE', score: 0.91, box: [[420, 70], [680, 70], [680, 120], [420, 120]] },
          ],
        },
        exif: { captured_at: null, camera_make: null, camera_model: null, orientation: null, gps: null },
        description: 'A white sign that reads open daily from nine.',
        embeddings: { chunks: 1, dimensions: 384 },
        provenance: [provenance('image.labels', 'mobilenet'), provenance('image.ocr', 'paddle-ocr', true), provenance('image.description', 'qwen')],
      },
    },
    ...over,
  } as Item;
}

export function mediaItem(kind: 'audio' | 'video', over: Partial<Item> = {}): Item {
  return {
    ...base,
    title: kind === 'audio' ? 'Library notice' : 'Garden tour',
    modality: kind,
    mime: kind === 'audio' ? 'audio/wav' : 'video/mp4',
    extension: kind === 'audio' ? 'wav' : 'mp4',
    media: { duration_secs: 6.5, has_audio: true, has_video: kind === 'video', ...(kind === 'video' ? { width: 640, height: 360 } : {}) },
    analysis: {
      state: 'ready',
      result: {
        ...(kind === 'audio' ? { modality: kind, duration_secs: 6.5, speech: [{ start: 0.2, end: 6.1 }], summary: null } : { modality: kind, has_audio: true, summary: '' }),
        transcript: {
          text: 'The library opens at nine in the morning. Please return your books on time.',
          segments: [
            { start: 0.2, end: 2.8, text: ' The library opens at nine in the morning.' },
            { start: 4.0, end: 6.1, text: ' Please return your books on time.' },
          ],
        },
        keyframes:
          kind === 'video'
            ? [
                { index: 0, time: 0, labels: [{ index: 917, name: 'poster', score: 0.5 }], ocr_text: 'GARDEN TOUR', url: `/api/content/${ID}/keyframes/0` },
                { index: 1, time: 3, labels: [], ocr_text: '', url: `/api/content/${ID}/keyframes/1` },
              ]
            : undefined,
        embeddings: { chunks: 1, dimensions: 384 },
        provenance: [provenance('audio.transcript', 'whisper-tiny')],
      },
    },
    ...over,
  } as Item;
}

export function textItem(over: Partial<Item> = {}): Item {
  return {
    ...base,
    title: 'Meeting notes',
    modality: 'text',
    mime: 'text/plain',
    extension: 'txt',
    size: 64,
    source: 'note',
    media: { has_audio: false, has_video: false },
    previews: { state: 'none', images: [] },
    analysis: {
      state: 'ready',
      result: { modality: 'text', words: 9, characters: 50, summary: null, embeddings: { chunks: 1, dimensions: 384 }, provenance: [] },
    },
    ...over,
  } as Item;
}

export function job(over: Partial<Job> = {}): Job {
  return {
    id: '0190a000-0000-7000-8000-0000000000j1'.replace('j', 'b'),
    content_id: ID,
    owner: base.owner,
    modality: 'image',
    reason: 'upload',
    status: 'succeeded',
    attempts: 1,
    run_after: '2026-01-02T10:00:00Z',
    stage: null,
    percent: 100,
    node: 'node-1',
    error_code: null,
    error: null,
    processing_ms: 2300,
    requested_at: '2026-01-02T10:00:00Z',
    updated_at: '2026-01-02T10:00:03Z',
    ...over,
  } as Job;
}
