/**
 * Sends one file to the library: small files in one `POST /api/content` (multipart, with an
 * `Idempotency-Key` so a retry never makes a second item), large ones through the resumable
 * upload API in chunks, so an interrupted upload goes on from the last acknowledged byte, even
 * after a reload when the same file is chosen again.
 */
import { api, call } from '../../../api/client';
import { ApiError } from '../../../api/errors';
import type { Item } from '../types';
import { sendXhr, xhrError } from './xhr';

/** Files above this go through the resumable API. */
export const RESUMABLE_FROM = 32 * 1024 * 1024;
/** Our chunk size (the server may accept less: `max_chunk_bytes`). */
const CHUNK = 8 * 1024 * 1024;
const RESUME_KEY = 'tessera.uploads';

export interface UploadOutcome {
  item: Item;
  /** The same bytes were already in the library. */
  duplicate: boolean;
}

export interface UploadCallbacks {
  onProgress: (sent: number, total: number) => void;
  signal: AbortSignal;
  /** Stable across retries of the same file. */
  idempotencyKey: string;
}

export function uploadFile(file: File, cb: UploadCallbacks): Promise<UploadOutcome> {
  return file.size > RESUMABLE_FROM ? resumable(file, cb) : single(file, cb);
}

async function single(file: File, cb: UploadCallbacks): Promise<UploadOutcome> {
  const form = new FormData();
  form.append('file', file, file.name);
  const r = await sendXhr({
    method: 'POST',
    url: '/api/content',
    headers: { 'Idempotency-Key': cb.idempotencyKey },
    body: form,
    onProgress: cb.onProgress,
    signal: cb.signal,
  });
  if (r.status !== 200 && r.status !== 201) throw xhrError(r);
  return { item: r.json as Item, duplicate: r.header('Tessera-Duplicate') === 'true' };
}

function fileKey(file: File): string {
  return `${file.name}:${file.size}:${file.lastModified}`;
}

function savedUploads(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(RESUME_KEY) ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}

function remember(file: File, id: string | null): void {
  const key = fileKey(file);
  const all = Object.fromEntries(Object.entries(savedUploads()).filter(([k]) => k !== key));
  if (id) all[key] = id;
  try {
    localStorage.setItem(RESUME_KEY, JSON.stringify(all));
  } catch {
    // Storage blocked: resuming works within this page only.
  }
}

/** An open upload of this very file, from an earlier page, if the server still has it. */
async function previous(file: File) {
  const id = savedUploads()[fileKey(file)];
  if (!id) return null;
  try {
    const view = await call(api.GET('/api/uploads/{id}', { params: { path: { id } } }));
    if (view.state === 'open' && view.length === file.size) return view;
  } catch {
    // Expired or gone: start again.
  }
  remember(file, null);
  return null;
}

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new DOMException('The upload was cancelled', 'AbortError'));
    });
  });

async function resumable(file: File, cb: UploadCallbacks): Promise<UploadOutcome> {
  let view =
    (await previous(file)) ??
    (await call(api.POST('/api/uploads', { body: { length: file.size, filename: file.name } })));
  remember(file, view.id);
  const id = view.id;
  let offset = view.offset;
  const chunk = Math.max(1, Math.min(CHUNK, view.max_chunk_bytes || CHUNK));
  let failures = 0;
  cb.onProgress(offset, file.size);
  cb.signal.addEventListener('abort', () => {
    // Tell the server to drop what it has (best effort).
    void api.DELETE('/api/uploads/{id}', { params: { path: { id } } }).catch(() => undefined);
    remember(file, null);
  });
  for (;;) {
    const end = Math.min(file.size, offset + chunk);
    try {
      const r = await sendXhr({
        method: 'PATCH',
        url: `/api/uploads/${id}`,
        headers: { 'Upload-Offset': String(offset), 'content-type': 'application/offset+octet-stream' },
        body: file.slice(offset, end),
        onProgress: (loaded) => cb.onProgress(offset + loaded, file.size),
        signal: cb.signal,
      });
      if (r.status === 200 || r.status === 201) {
        failures = 0;
        const body = r.json as { upload: { offset: number }; content?: Item; duplicate: boolean };
        offset = body.upload.offset;
        cb.onProgress(offset, file.size);
        if (body.content) {
          remember(file, null);
          return { item: body.content, duplicate: body.duplicate };
        }
        continue;
      }
      const err = xhrError(r);
      if (!err.is('offset_mismatch') && r.status < 500) throw err;
      throw Object.assign(err, { transient: true });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      const transient = e instanceof ApiError && (e.is('network_error') || (e as { transient?: boolean }).transient);
      if (!transient || ++failures > 6) {
        if (!transient) remember(file, null);
        throw e;
      }
      // Back off, then ask the server where to go on from.
      await wait(Math.min(15_000, 500 * 2 ** failures), cb.signal);
      try {
        view = await call(api.GET('/api/uploads/{id}', { params: { path: { id } } }));
        offset = view.offset;
        cb.onProgress(offset, file.size);
      } catch {
        // Still unreachable: the next round tries again.
      }
    }
  }
}
