import { api, call, type Schema } from '../../api/client';
import { ApiError } from '../../api/errors';
import { authFetch } from '../../api/session';
import type { Draft } from './Composer';

export type Accepted = Schema<'MessageAccepted'>;

/**
 * Posts a message: JSON when it only refers to library items, `multipart/form-data` when
 * files go with it (each becomes a library item and is attached).
 */
export async function postMessage(conversationId: string, draft: Draft): Promise<Accepted> {
  const attachments = draft.items.map((i) => i.id);
  if (draft.files.length === 0) {
    return call(
      api.POST('/api/conversations/{id}/messages', {
        params: { path: { id: conversationId } },
        body: { text: draft.text, attachments },
      }),
    );
  }
  const form = new FormData();
  form.append('text', draft.text);
  if (attachments.length) form.append('attachments', attachments.join(','));
  for (const f of draft.files) form.append('file', f, f.name);
  const url = `${window.location.origin}/api/conversations/${encodeURIComponent(conversationId)}/messages`;
  const res = await authFetch(url, { method: 'POST', body: form, headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (!res.ok) throw await ApiError.fromResponse(res);
  return (await res.json()) as Accepted;
}

/** A title for a new conversation, from its first message. */
export function titleFrom(draft: Draft): string | undefined {
  const line = draft.text.split('\n').find((l) => l.trim())?.trim();
  const base = line ?? draft.items[0]?.title ?? draft.files[0]?.name;
  if (!base) return undefined;
  return base.length > 60 ? `${base.slice(0, 57).trimEnd()}…` : base;
}
