import { useQuery } from '@tanstack/react-query';
import { useDeferredValue, useId, useState } from 'react';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { Dialog } from '../../ui/Dialog';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { inputClass } from '../../ui/Field';
import { Skeleton } from '../../ui/Skeleton';
import { describeError } from './apiErrors';
import { ItemThumb } from './Attachments';

export type Item = Schema<'ItemView'>;
type Modality = 'text' | 'image' | 'audio' | 'video';

/** Searches the user's library (`GET /api/content`), newest first. */
export function useLibrarySearch(q: string, modality?: Modality, enabled = true) {
  const filters = { q: q || undefined, modality, limit: 30 };
  return useQuery({
    queryKey: queryKeys.content.list({ ...filters, picker: true }),
    queryFn: () => call(api.GET('/api/content', { params: { query: filters } })),
    enabled,
    placeholderData: (prev) => prev,
  });
}

/** The list of items found, as checkboxes (several) or radios (one). */
export function ItemChoices({
  q,
  modality,
  selected,
  onToggle,
  multiple,
  name,
}: {
  q: string;
  modality?: Modality;
  selected: Item[];
  onToggle: (item: Item) => void;
  multiple: boolean;
  name: string;
}) {
  const query = useLibrarySearch(q, modality);
  if (query.isPending) {
    return (
      <div className="space-y-2" aria-hidden="true">
        {[0, 1, 2, 3].map((i) => (
          <Skeleton key={i} className="h-14 w-full" />
        ))}
      </div>
    );
  }
  if (query.isError) return <ErrorPanel error={new Error(describeError(query.error))} retry={() => void query.refetch()} title="Could not search your library" />;
  const items = query.data.items;
  if (items.length === 0) {
    return (
      <p className="rounded-lg border border-dashed border-zinc-300 px-4 py-8 text-center text-sm text-zinc-600 dark:border-zinc-700 dark:text-zinc-400">
        {q ? `Nothing in your library matches “${q}”.` : modality ? `Your library has no ${modality} items yet.` : 'Your library is empty. Upload files on the Library page.'}
      </p>
    );
  }
  return (
    <ul className={cx('max-h-[min(22rem,50dvh)] space-y-1 overflow-y-auto pr-1', query.isPlaceholderData && 'opacity-60')} aria-busy={query.isFetching}>
      {items.map((item) => {
        const checked = selected.some((s) => s.id === item.id);
        return (
          <li key={item.id}>
            <label
              className={cx(
                'flex cursor-pointer items-center gap-3 rounded-lg border p-2 text-sm transition-colors',
                checked
                  ? 'border-brand-500 bg-brand-50 dark:border-brand-500 dark:bg-brand-500/10'
                  : 'border-transparent hover:bg-zinc-100 dark:hover:bg-zinc-800/60',
              )}
            >
              <input
                type={multiple ? 'checkbox' : 'radio'}
                name={name}
                className="size-4 shrink-0 accent-brand-600"
                checked={checked}
                onChange={() => onToggle(item)}
              />
              <ItemThumb item={item} />
              <span className="min-w-0 flex-1">
                <span className="block truncate font-medium text-zinc-900 dark:text-zinc-100">{item.title}</span>
                <span className="block text-xs text-zinc-600 capitalize dark:text-zinc-400">{item.modality}</span>
              </span>
            </label>
          </li>
        );
      })}
    </ul>
  );
}

/** A dialog to pick library items to attach to a message. */
export function LibraryPicker({ open, onClose, onAttach }: { open: boolean; onClose: () => void; onAttach: (items: Item[]) => void }) {
  return (
    <Dialog open={open} onClose={onClose} title="Attach from your library" description="Choose items the answer should use." className="max-w-xl">
      {open && <PickerBody onClose={onClose} onAttach={onAttach} />}
    </Dialog>
  );
}

function PickerBody({ onClose, onAttach }: { onClose: () => void; onAttach: (items: Item[]) => void }) {
  const [search, setSearch] = useState('');
  const q = useDeferredValue(search.trim());
  const [selected, setSelected] = useState<Item[]>([]);
  const id = useId();
  return (
    <div className="space-y-3">
      <div>
        <label htmlFor={id} className="sr-only">
          Search your library
        </label>
        <input id={id} type="search" className={inputClass} placeholder="Search your library" value={search} onChange={(e) => setSearch(e.target.value)} autoFocus />
      </div>
      <ItemChoices
        q={q}
        selected={selected}
        multiple
        name="attach"
        onToggle={(item) => setSelected((s) => (s.some((x) => x.id === item.id) ? s.filter((x) => x.id !== item.id) : [...s, item]))}
      />
      <div className="flex flex-col-reverse gap-2 pt-2 sm:flex-row sm:justify-end">
        <Button onClick={onClose}>Cancel</Button>
        <Button
          variant="primary"
          disabled={selected.length === 0}
          onClick={() => {
            onAttach(selected);
            onClose();
          }}
        >
          {selected.length > 1 ? `Attach ${selected.length} items` : 'Attach'}
        </Button>
      </div>
    </div>
  );
}
