import { useState, type FormEvent } from 'react';

import { api, call } from '../../api/client';
import { errorMessage, isApiError } from '../../api/errors';
import { Button } from '../../ui/Button';
import { Dialog } from '../../ui/Dialog';
import { FormError, TextField } from '../../ui/Field';
import { tagChanges, parseTags } from './tags';
import type { Item } from './types';

/** Rename an item, change its description and tags (`PATCH /api/content/{id}`). */
export function EditDialog({ item, focus, onClose, onSaved }: { item: Item | null; focus: 'title' | 'tags'; onClose: () => void; onSaved: (item: Item) => void }) {
  return (
    <Dialog open={item !== null} onClose={onClose} title="Edit details" description={item ? `Change how “${item.title}” is named and tagged.` : undefined}>
      {item && <EditForm item={item} focus={focus} onClose={onClose} onSaved={onSaved} />}
    </Dialog>
  );
}

function EditForm({ item, focus, onClose, onSaved }: { item: Item; focus: 'title' | 'tags'; onClose: () => void; onSaved: (item: Item) => void }) {
  const [title, setTitle] = useState(item.title);
  const [description, setDescription] = useState(item.description ?? '');
  const [tags, setTags] = useState(item.tags.join(', '));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!title.trim()) {
      setError(new Error('Give it a title.'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = {
        ...(title.trim() !== item.title ? { title: title.trim() } : {}),
        ...(description.trim() !== (item.description ?? '') ? { description: description.trim() || null } : {}),
        ...tagChanges(item.tags, parseTags(tags)),
      };
      const saved = await call(api.PATCH('/api/content/{id}', { params: { path: { id: item.id } }, body }));
      onSaved(saved);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const fieldError = (name: string) => (isApiError(error) && error.field === name ? errorMessage(error) : undefined);
  const formError = error && !(isApiError(error) && error.field && ['title', 'description', 'tags', 'add_tags'].includes(error.field)) ? errorMessage(error) : null;

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <TextField label="Title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={300} required autoFocus={focus === 'title'} error={fieldError('title')} />
      <div className="space-y-1.5">
        <label htmlFor={`desc-${item.id}`} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
          Description
        </label>
        <textarea
          id={`desc-${item.id}`}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          rows={3}
          className="block w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm text-zinc-900 shadow-sm focus:border-brand-500 focus:outline-2 focus:outline-brand-500/30 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
        />
      </div>
      <TextField
        label="Tags"
        hint="Separate tags with commas."
        value={tags}
        onChange={(e) => setTags(e.target.value)}
        autoFocus={focus === 'tags'}
        error={fieldError('add_tags') ?? fieldError('tags')}
        placeholder="garden, receipts"
      />
      <FormError>{formError}</FormError>
      <div className="flex flex-col-reverse gap-2 pt-2 sm:flex-row sm:justify-end">
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" loading={busy}>
          Save
        </Button>
      </div>
    </form>
  );
}
