// Talking to the server directly, for a scenario's preparations (what the scenario is not
// about): accounts, uploads, waiting for an analysis. Requests go through the browser
// context's request object, so they share its cookies: signing up here signs the browser in.
import { randomBytes } from 'node:crypto';

export const PASSWORD = 'Correct-Horse-42-e2e';

export function uniqueEmail(who) {
  return `${who}-${randomBytes(4).toString('hex')}@example.com`;
}

async function json(response, what) {
  const text = await response.text();
  if (!response.ok()) throw new Error(`${what}: HTTP ${response.status()} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Any API call; `token` sends `Authorization: Bearer`, otherwise the context's cookies count and
 * the call names the app's origin, as its pages do (the server refuses cookie-authenticated
 * changes from anywhere else, and gives a page its tokens as cookies only).
 */
export async function api(context, method, path, { data, multipart, token } = {}) {
  const headers = token ? { authorization: `Bearer ${token}` } : { origin: context.tesseraOrigin };
  const r = await context.request.fetch(path, { method, data, multipart, headers });
  return json(r, `${method} ${path}`);
}

/** A new account, signed in in `context` (cookies). Returns `{ email, password, name, userId }`. */
export async function signUpViaApi(context, who) {
  const email = uniqueEmail(who);
  const name = who[0].toUpperCase() + who.slice(1);
  const body = await api(context, 'POST', '/api/auth/register', {
    data: { email, password: PASSWORD, display_name: name },
  });
  return { email, password: PASSWORD, name, userId: body.user_id };
}

export async function signInViaApi(context, email, password) {
  const body = await api(context, 'POST', '/api/auth/login', { data: { email, password } });
  return { userId: body.user_id };
}

/** Uploads a file from support/media.mjs; resolves to the item. */
export function uploadViaApi(context, file) {
  return api(context, 'POST', '/api/content', {
    multipart: { file: { name: file.name, mimeType: file.mimeType, buffer: file.buffer } },
  });
}

/** Waits until the item's analysis is no longer pending; resolves to the item. */
export async function analysedViaApi(context, id, timeout = 240_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const item = await api(context, 'GET', `/api/content/${id}`);
    if (item.analysis?.state && item.analysis.state !== 'pending') return item;
    if (Date.now() > deadline) throw new Error(`item ${id} was not analysed within ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
