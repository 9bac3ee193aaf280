import { useState, type FormEvent } from 'react';

import { Button, IconButton } from '../../ui/Button';
import { TextField } from '../../ui/Field';
import { useDocumentTitle } from '../../ui/PageHeader';
import { contentError } from './messages';
import type { Item } from './useContentItem';
import { useUpdateItem } from './useItemMutations';

const MAX_TITLE = 300;

function PencilIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" className="size-4">
      <path d="M4 20h4L19 9l-4-4L4 16v4ZM14 6l4 4" />
    </svg>
  );
}

/**
 * The page's `h1` (the item's title, also the tab's title) with an inline rename, a line about
 * the item, and the page's actions. It plays the part of `PageHeader`, whose title is not editable.
 */
export function ContentHeader({ item, subtitle, actions }: { item: Item; subtitle: React.ReactNode; actions: React.ReactNode }) {
  useDocumentTitle(item.title);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(item.title);
  const [error, setError] = useState<string>();
  const update = useUpdateItem(item.id);
  const editable = !item.deleted_at;

  const start = () => {
    setDraft(item.title);
    setError(undefined);
    setEditing(true);
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const title = draft.trim();
    if (!title) return setError('A title cannot be empty.');
    if (title === item.title) return setEditing(false);
    update.mutate(
      { title },
      {
        onSuccess: () => setEditing(false),
        onError: (err) => setError(contentError(err)),
      },
    );
  };

  return (
    <header className="mb-6 flex flex-col gap-4 sm:flex-row sm:items-start sm:justify-between">
      <div className="min-w-0 flex-1">
        {editing ? (
          <>
            <h1 className="sr-only">{item.title}</h1>
            <form onSubmit={submit} className="flex flex-col gap-2 sm:flex-row sm:items-end" onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}>
              <TextField
                label="Title"
                className="flex-1"
                value={draft}
                maxLength={MAX_TITLE}
                autoFocus
                onChange={(e) => setDraft(e.target.value)}
                error={error}
              />
              <div className="flex gap-2">
                <Button type="submit" variant="primary" loading={update.isPending}>
                  Save title
                </Button>
                <Button onClick={() => setEditing(false)} disabled={update.isPending}>
                  Cancel
                </Button>
              </div>
            </form>
          </>
        ) : (
          <div className="flex min-w-0 items-start gap-1">
            <h1 className="min-w-0 text-2xl font-semibold tracking-tight break-words text-zinc-900 dark:text-zinc-50">{item.title}</h1>
            {editable && (
              <IconButton label="Rename" size="sm" className="mt-0.5 shrink-0 text-zinc-500" onClick={start}>
                <PencilIcon />
              </IconButton>
            )}
          </div>
        )}
        <div className="mt-1 text-sm text-zinc-600 dark:text-zinc-400">{subtitle}</div>
      </div>
      <div className="flex shrink-0 flex-wrap gap-2">{actions}</div>
    </header>
  );
}
