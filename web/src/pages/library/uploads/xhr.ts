/**
 * `XMLHttpRequest` for uploads, because only it reports upload progress. Like `authFetch`, it
 * refreshes the session cookies once on a 401 and sends again.
 */
import { ApiError } from '../../../api/errors';
import { refreshSession } from '../../../api/session';

export interface XhrOptions {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A Blob or FormData: re-sent as is on a retry (never buffered by us). */
  body?: XMLHttpRequestBodyInit | null;
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

export interface XhrResult {
  status: number;
  header: (name: string) => string | null;
  json: unknown;
}

function once(opts: XhrOptions): Promise<XhrResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(opts.method, new URL(opts.url, window.location.origin).toString());
    xhr.withCredentials = true;
    xhr.setRequestHeader('accept', 'application/json');
    for (const [k, v] of Object.entries(opts.headers ?? {})) xhr.setRequestHeader(k, v);
    if (opts.onProgress) {
      const report = opts.onProgress;
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) report(e.loaded, e.total);
      });
    }
    const abort = () => xhr.abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    xhr.addEventListener('load', () => {
      opts.signal?.removeEventListener('abort', abort);
      let json: unknown = undefined;
      try {
        json = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        json = xhr.responseText;
      }
      resolve({ status: xhr.status, header: (n) => xhr.getResponseHeader(n), json });
    });
    xhr.addEventListener('error', () => reject(ApiError.network(new Error('upload failed'))));
    xhr.addEventListener('timeout', () => reject(ApiError.network(new Error('upload timed out'))));
    xhr.addEventListener('abort', () => reject(new DOMException('The upload was cancelled', 'AbortError')));
    xhr.send(opts.body ?? null);
  });
}

/** Sends the request; a 401 refreshes the session and sends once more. */
export async function sendXhr(opts: XhrOptions): Promise<XhrResult> {
  const sentAt = Date.now();
  const first = await once(opts);
  if (first.status !== 401) return first;
  const ok = await refreshSession({ sentAt }).catch(() => false);
  return ok ? once(opts) : first;
}

/** The `ApiError` of a failed result (the server's `{"error":{…}}` body). */
export function xhrError(r: XhrResult): ApiError {
  const headers = new Headers();
  const retry = r.header('Retry-After');
  if (retry) headers.set('Retry-After', retry);
  return ApiError.fromBody(new Response(null, { status: r.status, headers }), r.json);
}
