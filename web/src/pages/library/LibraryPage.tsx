import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Navigate, useSearchParams } from 'react-router';

import { api, call } from '../../api/client';
import { useTags } from '../../api/useTags';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { LibraryIcon, SearchIcon, TrashIcon, UploadIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { useLiveEvents } from '../../live/useLive';
import { cx } from '../../ui/cx';
import { searchHref } from '../search/params';
import { EditDialog } from './EditDialog';
import { isFiltered, readFilters, writeFilters, type Filters } from './filters';
import { NoteIcon } from './icons';
import { ItemCard, type ItemAction } from './ItemCard';
import { NoteDialog } from './NoteDialog';
import { ProcessingTracker } from './processing';
import { ProcessingContext } from './ProcessingContext';
import { Toolbar } from './Toolbar';
import type { Item } from './types';
import { UploadTray } from './uploads/UploadTray';
import { useUploads } from './uploads/useUploads';
import { useLibrary, useListEdits } from './useLibrary';

function GridSkeleton({ view, count }: { view: Filters['view']; count: number }) {
  if (view === 'list') {
    return (
      <>
        {Array.from({ length: count }, (_, i) => (
          <li key={i} aria-hidden="true" className="flex items-center gap-3 px-2 py-2 sm:px-3">
            <Skeleton className="size-10 rounded-md" />
            <div className="flex-1 space-y-1.5">
              <Skeleton className="h-4 w-1/3" />
              <Skeleton className="h-3 w-1/2" />
            </div>
          </li>
        ))}
      </>
    );
  }
  return (
    <>
      {Array.from({ length: count }, (_, i) => (
        <li key={i} aria-hidden="true" className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
          <Skeleton className="aspect-[4/3] w-full rounded-none" />
          <div className="space-y-2 p-3">
            <Skeleton className="h-4 w-2/3" />
            <Skeleton className="h-3 w-1/2" />
            <Skeleton className="h-3 w-1/4" />
          </div>
        </li>
      ))}
    </>
  );
}

const GRID = 'grid grid-cols-2 gap-3 sm:grid-cols-3 sm:gap-4 lg:grid-cols-3 xl:grid-cols-4';
const LIST = 'divide-y divide-zinc-100 rounded-2xl border border-zinc-200 bg-white p-1 dark:divide-zinc-800/70 dark:border-zinc-800 dark:bg-zinc-950';

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return Boolean(el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)));
}

/**
 * `/library`: everything the user uploaded or wrote, with live processing. An older address with
 * words (`/library?q=roses`) opens the search page, where words are looked for now.
 */
export default function LibraryPage() {
  const [params] = useSearchParams();
  const q = params.get('q')?.trim();
  if (q) {
    const f = readFilters(params);
    return <Navigate replace to={searchHref({ q, modality: f.modality, tag: f.tag, from: f.from, to: f.to })} />;
  }
  return <Library />;
}

function Library() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => readFilters(params), [params]);
  const setFilters = useCallback(
    (change: Partial<Filters>) => setParams((p) => writeFilters({ ...readFilters(p), ...change }), { replace: true }),
    [setParams],
  );
  const list = useLibrary(filters);
  const { items } = list;
  const edits = useListEdits();
  const toast = useToast();

  // Live processing progress, fed by the socket's job events.
  const [tracker] = useState(() => new ProcessingTracker());
  useEffect(() => {
    tracker.setPending(() => items.filter((i) => i.analysis.state === 'pending'));
  }, [tracker, items]);
  useEffect(() => () => tracker.dispose(), [tracker]);
  useLiveEvents('jobs', (e) => tracker.handle(e));

  // Uploads.
  const onUploaded = useCallback(
    (item: Item, duplicate: boolean) => {
      if (duplicate) toast.info(`“${item.title}” is already in your library`);
      void edits.refresh();
    },
    [edits, toast],
  );
  const uploads = useUploads(onUploaded);
  const picker = useRef<HTMLInputElement>(null);

  // Dialogs.
  const [note, setNote] = useState<{ open: boolean; text: string }>({ open: false, text: '' });
  const [editing, setEditing] = useState<{ item: Item; focus: 'title' | 'tags' } | null>(null);
  const [purging, setPurging] = useState<Item | null>(null);
  const [purgeBusy, setPurgeBusy] = useState(false);
  const [restoring, setRestoring] = useState<string | null>(null);

  // Drop anywhere on the page; paste files (uploaded) or text (a new note).
  const [dragging, setDragging] = useState(false);
  const addFiles = uploads.add;
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setDragging(true);
    };
    const over = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      if (e.dataTransfer?.files.length) addFiles(e.dataTransfer.files);
    };
    const paste = (e: ClipboardEvent) => {
      const data = e.clipboardData;
      if (!data) return;
      if (data.files.length > 0) {
        e.preventDefault();
        addFiles(data.files);
        return;
      }
      if (isTyping(e.target) || document.querySelector('dialog[open]')) return;
      const text = data.getData('text/plain');
      if (text.trim()) {
        e.preventDefault();
        setNote({ open: true, text });
      }
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    document.addEventListener('paste', paste);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
      document.removeEventListener('paste', paste);
    };
  }, [addFiles]);

  // Item actions; one stable handler so cards stay memoised.
  const restore = useCallback(
    async (item: Item, quiet = false) => {
      setRestoring(item.id);
      try {
        await call(api.POST('/api/content/{id}/restore', { params: { path: { id: item.id } } }));
        edits.remove(item.id);
        if (!quiet) toast.success(`Restored “${item.title}”`);
      } catch (err) {
        toast.error(err, `Could not restore “${item.title}”`);
      } finally {
        setRestoring(null);
        void edits.refresh();
      }
    },
    [edits, toast],
  );
  const onAction = useCallback(
    (action: ItemAction, item: Item) => {
      if (action === 'rename' || action === 'tags') setEditing({ item, focus: action === 'rename' ? 'title' : 'tags' });
      else if (action === 'restore') void restore(item);
      else if (action === 'purge') setPurging(item);
      else if (action === 'delete') {
        edits.remove(item.id);
        call(api.DELETE('/api/content/{id}', { params: { path: { id: item.id } } })).then(
          () => {
            toast.show({
              kind: 'success',
              title: `Moved “${item.title}” to the Trash`,
              durationMs: 8_000,
              action: { label: 'Undo', onClick: () => void restore(item, true) },
            });
            void edits.refresh();
          },
          (err: unknown) => {
            toast.error(err, `Could not delete “${item.title}”`);
            void edits.refresh();
          },
        );
      }
    },
    [edits, restore, toast],
  );

  const purge = async () => {
    if (!purging) return;
    setPurgeBusy(true);
    try {
      await call(api.DELETE('/api/content/{id}', { params: { path: { id: purging.id }, query: { purge: true } } }));
      edits.remove(purging.id);
      toast.success(`Deleted “${purging.title}” for good`);
      setPurging(null);
    } catch (err) {
      toast.error(err, 'Could not delete it');
    } finally {
      setPurgeBusy(false);
      void edits.refresh();
    }
  };

  // Infinite scroll: the next page loads as the end of the list comes near.
  const sentinel = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = list;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasNextPage || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !isFetchingNextPage) void fetchNextPage();
    }, { rootMargin: '800px 0px' });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const savedTags = useTags();
  const knownTags = useMemo(
    () => [...new Set([...savedTags, ...items.flatMap((i) => i.tags)])].slice(0, 500),
    [savedTags, items],
  );
  const uploadButton = (
    <Button variant="primary" icon={<UploadIcon />} onClick={() => picker.current?.click()}>
      Upload
    </Button>
  );

  let body;
  if (list.isPending) {
    body = (
      <div role="status" aria-live="polite" aria-busy="true">
        <span className="sr-only">Loading your library…</span>
        <ul className={filters.view === 'grid' ? GRID : LIST}>
          <GridSkeleton view={filters.view} count={8} />
        </ul>
      </div>
    );
  } else if (list.isError && items.length === 0) {
    body = <ErrorPanel error={list.error} retry={() => void list.refetch()} title="Could not load your library" />;
  } else if (items.length === 0) {
    body = filters.trash ? (
      <EmptyState icon={<TrashIcon />} title={isFiltered(filters) ? 'Nothing in the Trash matches' : 'The Trash is empty'} description="Deleted items stay here for a while, so you can restore them." />
    ) : isFiltered(filters) ? (
      <EmptyState
        icon={<SearchIcon />}
        title="No items match"
        description="Try fewer filters."
        action={<Button onClick={() => setFilters({ modality: '', tag: '', from: '', to: '' })}>Clear filters</Button>}
      />
    ) : (
      <EmptyState
        icon={<LibraryIcon />}
        title="Your library is empty"
        description="Upload text, images, audio or video — or drop files anywhere on this page, or paste them. Tessera reads, transcribes and indexes them for you."
        action={
          <div className="flex flex-wrap justify-center gap-2">
            {uploadButton}
            <Button icon={<NoteIcon />} onClick={() => setNote({ open: true, text: '' })}>
              New note
            </Button>
          </div>
        }
      />
    );
  } else {
    body = (
      <>
        <h2 className="sr-only">{filters.trash ? 'Deleted items' : 'Items'}</h2>
        <ul className={cx(filters.view === 'grid' ? GRID : LIST, list.isPlaceholderData && 'opacity-60 transition-opacity')} aria-busy={list.isPlaceholderData || undefined}>
          {items.map((item) => (
            <ItemCard key={item.id} item={item} view={filters.view} trash={filters.trash} onAction={onAction} busy={restoring === item.id} />
          ))}
          {list.isShowingNextPage && <GridSkeleton view={filters.view} count={4} />}
        </ul>
        <div ref={sentinel} aria-hidden="true" className="h-px" />
        {hasNextPage && (
          <div className="mt-6 flex justify-center">
            <Button onClick={() => void fetchNextPage()} loading={isFetchingNextPage}>
              Load more
            </Button>
          </div>
        )}
        {list.isFetchNextPageError && <p role="alert" className="mt-4 text-center text-sm text-red-700 dark:text-red-400">Could not load more items. Try “Load more” again.</p>}
      </>
    );
  }

  return (
    <ProcessingContext value={tracker}>
      <PageHeader
        title="Library"
        description="Everything you uploaded, found by meaning. Drop or paste files anywhere here."
        actions={
          <>
            {uploadButton}
            <Button icon={<NoteIcon />} onClick={() => setNote({ open: true, text: '' })}>
              New note
            </Button>
          </>
        }
      />
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        aria-label="Upload files"
        onChange={(e) => {
          if (e.target.files?.length) addFiles(e.target.files);
          e.target.value = '';
        }}
      />
      <UploadTray tasks={uploads.tasks} onRetry={uploads.retry} onCancel={uploads.cancel} onDismiss={uploads.dismiss} />
      <Toolbar filters={filters} onChange={setFilters} knownTags={knownTags} />
      {body}
      <div
        aria-hidden="true"
        className={cx(
          'pointer-events-none fixed inset-0 z-50 flex items-center justify-center bg-brand-600/10 p-6 backdrop-blur-[2px] transition-opacity',
          dragging ? 'opacity-100' : 'invisible opacity-0',
        )}
      >
        <div className="rounded-2xl border-2 border-dashed border-brand-500 bg-white/95 px-10 py-8 text-center shadow-xl dark:bg-zinc-900/95">
          <UploadIcon className="mx-auto size-8 text-brand-600 dark:text-brand-100" />
          <p className="mt-3 text-base font-semibold text-zinc-900 dark:text-zinc-100">Drop files to upload</p>
          <p className="mt-1 text-sm text-zinc-600 dark:text-zinc-400">Text, images, audio and video</p>
        </div>
      </div>
      <NoteDialog
        open={note.open}
        initialText={note.text}
        onClose={() => setNote({ open: false, text: '' })}
        onCreated={(item) => {
          setNote({ open: false, text: '' });
          toast.success(`Saved “${item.title}”`);
          void edits.refresh();
        }}
      />
      <EditDialog
        item={editing?.item ?? null}
        focus={editing?.focus ?? 'title'}
        onClose={() => setEditing(null)}
        onSaved={(item) => {
          setEditing(null);
          edits.replace(item);
          toast.success('Saved');
          void edits.refresh();
        }}
      />
      <ConfirmDialog
        open={purging !== null}
        onCancel={() => setPurging(null)}
        onConfirm={() => void purge()}
        title="Delete for good?"
        description={purging ? `“${purging.title}” and its file will be removed now. This cannot be undone.` : undefined}
        confirmLabel="Delete forever"
        danger
        busy={purgeBusy}
      />
    </ProcessingContext>
  );
}
