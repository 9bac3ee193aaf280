/**
 * Reading an item's analysis for the page. The findings come typed from the API schema
 * (`Analysis`, one shape per modality, generated from the server's types); this module puts
 * them in the form the page shows: labels by score, segments and keyframes by time, text
 * trimmed, one entry per model step.
 */
import type { Schema } from '../../api/client';

/** What the models found in an item, as the API sends it. */
export type AnalysisResult = Schema<'Analysis_KeyframeView_EmbeddingsSummary'>;
type KeyframeFound = Schema<'VideoAnalysis_KeyframeView_EmbeddingsSummary'>['keyframes'][number];

export interface Label {
  name: string;
  /** 0..1 */
  score: number;
}

/** A corner of an OCR box, in pixels of the original image. */
export type Point = readonly [number, number];

export interface OcrLine {
  text: string;
  score: number;
  /** Corners top-left, top-right, bottom-right, bottom-left. */
  box: readonly [Point, Point, Point, Point];
}

export interface Segment {
  /** Seconds from the start. */
  start: number;
  end: number;
  text: string;
}

export interface Keyframe {
  index: number;
  /** Seconds from the start. */
  time: number;
  labels: Label[];
  ocrText: string;
  url: string;
}

export interface Provenance {
  step: string;
  modelId: string;
  modelVersion: string;
  modelSha256: string;
  runMs: number;
  cached: boolean;
}

export interface Exif {
  capturedAt?: string;
  camera?: string;
  gps?: { latitude: number; longitude: number };
}

/** One sentence Tessera states about the item, with what it rests on, in words. */
export interface Statement {
  text: string;
  /** "label", "text in the image", "transcript at 0:04", "keyframe at 0:03", "model prose (…)"… */
  source: string;
  /** 0..1, where the finding has a measure. */
  confidence?: number;
  uncertain: boolean;
}

export interface Analysis {
  labels: Label[];
  ocrText: string;
  ocrLines: OcrLine[];
  description?: string;
  /** The description sentence by sentence with sources (empty for older analyses). */
  statements: Statement[];
  summary?: string;
  /** A video's time-coded summary line by line with sources (empty for older analyses). */
  timeline: Statement[];
  segments: Segment[];
  transcriptText: string;
  keyframes: Keyframe[];
  provenance: Provenance[];
  exif?: Exif;
  words?: number;
  characters?: number;
}

type Found = {
  statements?: Schema<'Statement'>[];
  timeline?: Schema<'Statement'>[];
  labels?: Schema<'Label'>[];
  ocr?: Schema<'OcrText'>;
  exif?: Schema<'Exif'>;
  description?: string;
  summary?: string | null;
  transcript?: Schema<'Transcript'> | null;
  keyframes?: KeyframeFound[];
  words?: number;
  characters?: number;
  provenance: Schema<'Provenance'>[];
};

/** A box's four corners, when the server sent four points. */
function corners(box: number[][]): OcrLine['box'] | null {
  const points = box.map((p): Point | null => (p.length === 2 ? [p[0] ?? 0, p[1] ?? 0] : null));
  const [a, b, c, d] = points;
  return points.length === 4 && a && b && c && d ? [a, b, c, d] : null;
}

function ocrLines(lines: Schema<'OcrLine'>[]): OcrLine[] {
  return lines.flatMap((l) => {
    const box = corners(l.box);
    return l.text.trim() && box ? [{ text: l.text, score: l.score, box }] : [];
  });
}

const byScore = (a: Label, b: Label) => b.score - a.score;

function keyframe(k: KeyframeFound): Keyframe {
  const labels = k.labels.map(({ name, score }) => ({ name, score }));
  return { index: k.index, time: k.time, labels, ocrText: k.ocr_text.trim(), url: k.url };
}

function exif(e: Schema<'Exif'> | undefined): Exif | undefined {
  if (!e) return undefined;
  const out: Exif = {};
  if (e.captured_at) out.capturedAt = e.captured_at;
  const camera = [e.camera_make, e.camera_model].filter(Boolean).join(' ').trim();
  if (camera) out.camera = camera;
  if (e.gps) out.gps = { latitude: e.gps.latitude, longitude: e.gps.longitude };
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * One entry per model step: a video runs the classifier and OCR on every keyframe, which is one
 * model as far as a person is concerned (their run times add up; cached only if all were).
 */
function mergeSteps(list: Schema<'Provenance'>[]): Provenance[] {
  const byKey = new Map<string, Provenance>();
  for (const p of list) {
    const step: Provenance = {
      step: p.step,
      modelId: p.model_id,
      modelVersion: p.model_version,
      modelSha256: p.model_sha256,
      runMs: p.run_ms,
      cached: p.cached,
    };
    const key = `${p.step}\u0000${p.model_id}\u0000${p.model_version}`;
    const seen = byKey.get(key);
    if (seen) byKey.set(key, { ...seen, runMs: seen.runMs + step.runMs, cached: seen.cached && step.cached });
    else byKey.set(key, step);
  }
  return [...byKey.values()];
}

/** What a statement rests on, in words. */
export function sourceName(source: Schema<'StatementSource'>): string {
  switch (source.kind) {
    case 'label':
      return `label “${source.name}”`;
    case 'ocr':
      return source.at != null ? `text on screen at ${formatClock(source.at)}` : 'text in the image';
    case 'transcript':
      return `transcript at ${formatClock(source.start)}`;
    case 'keyframe':
      return `keyframe at ${formatClock(source.at)}`;
    case 'file':
      return 'the file';
    case 'model':
      return `model prose (${source.model}), checked against the findings`;
  }
}

function statement(s: Schema<'Statement'>): Statement {
  const out: Statement = { text: s.text.trim(), source: sourceName(s.source), uncertain: s.uncertain ?? false };
  if (s.confidence != null) out.confidence = s.confidence;
  return out;
}

/** The findings of `analysis.result`, whatever its modality; missing parts are empty. */
export function readAnalysis(result: AnalysisResult | null | undefined): Analysis {
  const r: Found = result ?? { provenance: [] };
  const out: Analysis = {
    labels: (r.labels ?? []).map(({ name, score }) => ({ name, score })).sort(byScore),
    ocrText: r.ocr?.text.trim() ?? '',
    ocrLines: ocrLines(r.ocr?.lines ?? []),
    segments: (r.transcript?.segments ?? [])
      .map((s) => ({ start: s.start, end: s.end, text: s.text.trim() }))
      .filter((s) => s.text)
      .sort((a, b) => a.start - b.start),
    transcriptText: r.transcript?.text.trim() ?? '',
    keyframes: (r.keyframes ?? []).map(keyframe).sort((a, b) => a.time - b.time),
    provenance: mergeSteps(r.provenance),
    statements: (r.statements ?? []).map(statement).filter((s) => s.text),
    timeline: (r.timeline ?? []).map(statement).filter((s) => s.text),
  };
  const description = r.description?.trim();
  if (description) out.description = description;
  const summary = r.summary?.trim();
  if (summary) out.summary = summary;
  const e = exif(r.exif);
  if (e) out.exif = e;
  if (r.words !== undefined) out.words = r.words;
  if (r.characters !== undefined) out.characters = r.characters;
  return out;
}
/** What each model step did, in words. */
const STEP_NAMES: Record<string, string> = {
  'image.labels': 'Labels',
  'image.ocr': 'Text in the image',
  'image.description': 'Description',
  'audio.speech': 'Speech detection',
  'audio.transcript': 'Transcript',
  'video.summary': 'Summary',
  'text.summary': 'Summary',
  'transcript.summary': 'Summary',
  'text.embeddings': 'Search index',
  'speech.synthesis': 'Speech',
};

export function stepName(step: string): string {
  return STEP_NAMES[step] ?? (step.endsWith('.summary') ? 'Summary' : step.endsWith('.embeddings') ? 'Search index' : step);
}

/** The segment playing at `time` (the last one that started), or -1 before the first. */
export function segmentAt(segments: readonly Segment[], time: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((segments[mid]?.start ?? Infinity) <= time + 0.05) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** `65.4` → `1:05`; `3725` → `1:02:05`. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** `65` → "1 minute 5 seconds", for screen readers. */
export function spokenClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) parts.push(`${h} hour${h === 1 ? '' : 's'}`);
  if (m) parts.push(`${m} minute${m === 1 ? '' : 's'}`);
  if (sec || parts.length === 0) parts.push(`${sec} second${sec === 1 ? '' : 's'}`);
  return parts.join(' ');
}
