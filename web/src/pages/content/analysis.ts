/**
 * Reading an item's analysis. The API types `analysis.result` as a free-form object (each
 * modality's pipeline writes its own findings: actors/src/jobs/pipelines.rs), so this module
 * checks every field at run time and drops what does not fit, instead of trusting a cast.
 */

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

export interface Analysis {
  labels: Label[];
  ocrText: string;
  ocrLines: OcrLine[];
  description?: string;
  summary?: string;
  segments: Segment[];
  transcriptText: string;
  keyframes: Keyframe[];
  provenance: Provenance[];
  exif?: Exif;
  words?: number;
  characters?: number;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function label(v: unknown): Label | null {
  if (!isObj(v)) return null;
  const name = str(v.name);
  const score = num(v.score);
  return name && score !== undefined ? { name, score } : null;
}

function point(v: unknown): Point | null {
  const p = arr(v);
  const x = num(p[0]);
  const y = num(p[1]);
  return x !== undefined && y !== undefined ? [x, y] : null;
}

function ocrLine(v: unknown): OcrLine | null {
  if (!isObj(v)) return null;
  const text = str(v.text);
  const corners = arr(v.box).map(point);
  const [a, b, c, d] = corners;
  if (!text?.trim() || corners.length !== 4 || !a || !b || !c || !d) return null;
  return { text, score: num(v.score) ?? 0, box: [a, b, c, d] };
}

function segment(v: unknown): Segment | null {
  if (!isObj(v)) return null;
  const text = str(v.text)?.trim();
  const start = num(v.start);
  const end = num(v.end);
  if (!text || start === undefined) return null;
  return { text, start, end: end ?? start };
}

function keyframe(v: unknown, i: number): Keyframe | null {
  if (!isObj(v)) return null;
  const url = str(v.url);
  const time = num(v.time);
  if (!url || time === undefined) return null;
  return {
    index: num(v.index) ?? i,
    time,
    labels: arr(v.labels).map(label).filter((l): l is Label => l !== null),
    ocrText: str(v.ocr_text)?.trim() ?? '',
    url,
  };
}

function provenance(v: unknown): Provenance | null {
  if (!isObj(v)) return null;
  const step = str(v.step);
  const modelId = str(v.model_id);
  if (!step || !modelId) return null;
  return {
    step,
    modelId,
    modelVersion: str(v.model_version) ?? '',
    modelSha256: str(v.model_sha256) ?? '',
    runMs: num(v.run_ms) ?? 0,
    cached: v.cached === true,
  };
}

function exif(v: unknown): Exif | undefined {
  if (!isObj(v)) return undefined;
  const out: Exif = {};
  const at = str(v.captured_at);
  if (at) out.capturedAt = at;
  const camera = [str(v.camera_make), str(v.camera_model)].filter(Boolean).join(' ').trim();
  if (camera) out.camera = camera;
  if (isObj(v.gps)) {
    const latitude = num(v.gps.latitude);
    const longitude = num(v.gps.longitude);
    if (latitude !== undefined && longitude !== undefined) out.gps = { latitude, longitude };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * One entry per model step: a video runs the classifier and OCR on every keyframe, which is one
 * model as far as a person is concerned (their run times add up; cached only if all were).
 */
function mergeSteps(list: Provenance[]): Provenance[] {
  const byKey = new Map<string, Provenance>();
  for (const p of list) {
    const key = `${p.step}\u0000${p.modelId}\u0000${p.modelVersion}`;
    const seen = byKey.get(key);
    if (seen) byKey.set(key, { ...seen, runMs: seen.runMs + p.runMs, cached: seen.cached && p.cached });
    else byKey.set(key, p);
  }
  return [...byKey.values()];
}

/** The findings of `analysis.result`, whatever its modality; missing parts are empty. */
export function parseAnalysis(result: unknown): Analysis {
  const r = isObj(result) ? result : {};
  const ocr = isObj(r.ocr) ? r.ocr : {};
  const transcript = isObj(r.transcript) ? r.transcript : {};
  const out: Analysis = {
    labels: arr(r.labels)
      .map(label)
      .filter((l): l is Label => l !== null)
      .sort((a, b) => b.score - a.score),
    ocrText: str(ocr.text)?.trim() ?? '',
    ocrLines: arr(ocr.lines).map(ocrLine).filter((l): l is OcrLine => l !== null),
    segments: arr(transcript.segments)
      .map(segment)
      .filter((s): s is Segment => s !== null)
      .sort((a, b) => a.start - b.start),
    transcriptText: str(transcript.text)?.trim() ?? '',
    keyframes: arr(r.keyframes)
      .map(keyframe)
      .filter((k): k is Keyframe => k !== null)
      .sort((a, b) => a.time - b.time),
    provenance: mergeSteps(arr(r.provenance).map(provenance).filter((p): p is Provenance => p !== null)),
  };
  const description = str(r.description)?.trim();
  if (description) out.description = description;
  const summary = str(r.summary)?.trim();
  if (summary) out.summary = summary;
  const e = exif(r.exif);
  if (e) out.exif = e;
  const words = num(r.words);
  if (words !== undefined) out.words = words;
  const characters = num(r.characters);
  if (characters !== undefined) out.characters = characters;
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
