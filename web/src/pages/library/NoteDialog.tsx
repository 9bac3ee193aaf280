import { useState, type FormEvent } from 'react';

import { api, call } from '../../api/client';
import { errorMessage, isApiError } from '../../api/errors';
import { Button } from '../../ui/Button';
import { Dialog } from '../../ui/Dialog';
import { FormError, TextField } from '../../ui/Field';
import { parseTags } from './tags';
import type { Item } from './types';

function newKey(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `note-${Date.now()}-${Math.random()}`;
}

/** A title from the first line of pasted text. */
export function titleFromText(text: string): string {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  return line.length > 80 ? `${line.slice(0, 77).trimEnd()}…` : line;
}

/** Write a note (`POST /api/content/notes`); `initialText` comes from a paste. */
export function NoteDialog({ open, initialText, onClose, onCreated }: { open: boolean; initialText: string; onClose: () => void; onCreated: (item: Item) => void }) {
  return (
    <Dialog open={open} onClose={onClose} title="New note" description="Notes are searchable like any uploaded text." className="max-w-2xl">
      {open && <NoteForm initialText={initialText} onClose={onClose} onCreated={onCreated} />}
    </Dialog>
  );
}

function NoteForm({ initialText, onClose, onCreated }: { initialText: string; onClose: () => void; onCreated: (item: Item) => void }) {
  const [title, setTitle] = useState(titleFromText(initialText));
  const [text, setText] = useState(initialText);
  const [tags, setTags] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // One key per note: a retry after a lost answer does not write the note twice.
  const [key] = useState(newKey);

  const local = (field: string, message: string) => setError({ local: true, field, message });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!title.trim()) return local('title', 'Give the note a title.');
    if (!text.trim()) return local('text', 'Write something first.');
    setBusy(true);
    setError(null);
    try {
      const item = await call(
        api.POST('/api/content/notes', {
          body: { title: title.trim(), text, tags: parseTags(tags) },
          headers: { 'Idempotency-Key': key },
        }),
      );
      onCreated(item);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const fieldError = (name: string): string | undefined => {
    if (error && typeof error === 'object' && 'local' in error) {
      const l = error as unknown as { field: string; message: string };
      return l.field === name ? l.message : undefined;
    }
    return isApiError(error) && error.field === name ? errorMessage(error) : undefined;
  };
  const formError = isApiError(error) && !['title', 'text'].includes(error.field ?? '') ? (isApiError(error, 'quota_exceeded') ? 'You have reached your quota for new items.' : errorMessage(error)) : null;

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <TextField label="Title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={300} required autoFocus={!initialText} error={fieldError('title')} />
      <div className="space-y-1.5">
        <label htmlFor="note-text" className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
          Text
        </label>
        <textarea
          id="note-text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          rows={10}
          required
          autoFocus={Boolean(initialText)}
          aria-invalid={fieldError('text') ? true : undefined}
          aria-describedby={fieldError('text') ? 'note-text-error' : undefined}
          className="block w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm text-zinc-900 shadow-sm focus:border-brand-500 focus:outline-2 focus:outline-brand-500/30 aria-invalid:border-red-500 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
        />
        {fieldError('text') && (
          <p id="note-text-error" className="text-xs font-medium text-red-600 dark:text-red-400">
            {fieldError('text')}
          </p>
        )}
      </div>
      <TextField label="Tags" hint="Optional; separate tags with commas." value={tags} onChange={(e) => setTags(e.target.value)} />
      <FormError>{formError}</FormError>
      <div className="flex flex-col-reverse gap-2 pt-2 sm:flex-row sm:justify-end">
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" loading={busy}>
          Save note
        </Button>
      </div>
    </form>
  );
}
