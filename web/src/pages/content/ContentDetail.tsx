import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { api, call } from '../../api/client';
import { isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { formatBytes, formatDateTime } from '../../ui/format';
import { LibraryIcon, TrashIcon } from '../../ui/icons';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { DescriptionPanel, GeneratedPanel } from './AboutPanel';
import { readAnalysis } from './analysis';
import { ContentHeader } from './ContentHeader';
import { DetailsPanel, TagsPanel } from './DetailsPanel';
import { ImageViewer, LabelsPanel } from './ImageViewer';
import { JobsPanel } from './JobsPanel';
import { MediaViewer } from './MediaViewer';
import { contentError } from './messages';
import { ModelsPanel } from './ModelsPanel';
import { OutputsPanel } from './OutputsPanel';
import { readPlace } from './place';
import { SimilarPanel } from './SimilarPanel';
import { TextViewer } from './TextViewer';
import { useContentItem, useItemJobs, type Item } from './useContentItem';

function DownloadIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" className="size-4">
      <path d="M12 4v11M7 10l5 5 5-5M5 20h14" />
    </svg>
  );
}

const MODALITY: Record<string, string> = { image: 'Image', audio: 'Audio', video: 'Video', text: 'Text' };

/** The detail page of one item: its viewer per modality, what the models found, and its actions. */
export function ContentDetail({ id }: { id: string }) {
  const item = useContentItem(id);
  if (item.isPending) return <DetailSkeleton />;
  if (item.isError) {
    if (isApiError(item.error, 'not_found') || (isApiError(item.error) && (item.error.status === 404 || item.error.status === 400))) {
      return (
        <>
          <h1 className="sr-only">Item not found</h1>
          <EmptyState
            className="mt-8"
            icon={<LibraryIcon />}
            title="This item is not here"
            description="It may have been removed for good, or it belongs to someone else. Items in your trash can still be opened from the library."
            action={
              <Link
                to="/library"
                className="inline-flex h-10 items-center rounded-lg bg-brand-600 px-4 text-sm font-medium text-white shadow-sm hover:bg-brand-700"
              >
                Back to the library
              </Link>
            }
          />
        </>
      );
    }
    return (
      <>
        <h1 className="sr-only">Item</h1>
        <ErrorPanel title="This item could not be loaded" error={item.error} retry={() => void item.refetch()} />
      </>
    );
  }
  return <Loaded item={item.data} />;
}

function Loaded({ item }: { item: Item }) {
  const analysis = useMemo(() => readAnalysis(item.analysis.result), [item.analysis.result]);
  const pending = item.analysis.state === 'pending';
  const failed = item.analysis.state === 'failed';
  const fileSrc = `${item.file_url}?inline=true`;
  const poster = item.previews.images.find((p) => p.name === 'poster')?.url;
  const modelOf = (step: (s: string) => boolean) => analysis.provenance.find((p) => step(p.step))?.modelId;
  const analysedAt = useAnalysedAt(item.id);
  // A search hit's place (`?t=`, `?box=`, `?para=`: place.ts), shown by the viewer.
  const [params] = useSearchParams();
  const place = useMemo(() => readPlace(params), [params]);

  const subtitle = (
    <span className="flex flex-wrap items-center gap-x-2 gap-y-1">
      <Badge tone="brand">{MODALITY[item.modality] ?? item.modality}</Badge>
      <span>{formatBytes(item.size)}</span>
      <span aria-hidden="true">·</span>
      <span>Added {formatDateTime(item.created_at)}</span>
      {pending && <Badge tone="warning">Analysing…</Badge>}
      {failed && <Badge tone="danger">Analysis failed</Badge>}
    </span>
  );

  let viewer = null;
  let stage = null;
  let companion = null;
  if (item.modality === 'image') {
    viewer = <ImageViewer src={fileSrc} alt={item.description || analysis.description || item.title} width={item.media.width ?? undefined} height={item.media.height ?? undefined} lines={analysis.ocrLines} pending={pending} highlight={place.box} />;
    companion = <LabelsPanel labels={analysis.labels} pending={pending} />;
  } else if (item.modality === 'audio' || item.modality === 'video') {
    stage = (
      <MediaViewer
        kind={item.modality}
        src={fileSrc}
        title={item.title}
        poster={poster}
        width={item.media.width ?? undefined}
        height={item.media.height ?? undefined}
        duration={item.media.duration_secs ?? undefined}
        waveform={item.previews.waveform ?? undefined}
        segments={analysis.segments}
        keyframes={analysis.keyframes}
        pending={pending}
        start={place.t}
        noTranscriptReason={
          failed
            ? 'The analysis failed, so there is no transcript.'
            : item.modality === 'video' && !item.media.has_audio
              ? 'This video has no sound.'
              : undefined
        }
      />
    );
  } else {
    viewer = <TextViewer item={item} highlight={place.para} />;
  }

  return (
    <>
      <ContentHeader item={item} subtitle={subtitle} actions={<Actions item={item} />} />
      {item.deleted_at && <TrashBanner item={item} />}
      {failed && (
        <div role="status" className="mb-6 rounded-xl border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-900/50 dark:bg-amber-950/30 dark:text-amber-200">
          The models could not analyse this item{item.analysis.error ? ` (${item.analysis.error})` : ''}. Its file is safe; an administrator can run the analysis again.
        </div>
      )}
      {/* A player and its transcript take the whole width, so both have room side by side. */}
      {stage && <div className="mb-6">{stage}</div>}
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
        <div className="min-w-0 space-y-6">
          {viewer}
          <DescriptionPanel item={item} />
          {(item.modality === 'image' || (item.modality === 'video' && analysis.statements.length > 0)) && (
            <GeneratedPanel
              item={item}
              kind="description"
              fromAnalysis={analysis.description}
              statements={analysis.statements}
              model={modelOf((s) => s === 'image.description')}
              analysisPending={pending}
            />
          )}
          {!(item.source === 'generated' && item.generation?.kind === 'summary') && (
            <GeneratedPanel
              item={item}
              kind="summary"
              fromAnalysis={analysis.summary}
              statements={analysis.timeline}
              model={modelOf((s) => s.endsWith('.summary'))}
              analysisPending={pending}
            />
          )}
        </div>
        <aside className="min-w-0 space-y-6" aria-label="About this item">
          {companion}
          <DetailsPanel item={item} analysis={analysis} />
          <TagsPanel item={item} />
          {!item.deleted_at && <SimilarPanel id={item.id} />}
          <JobsPanel contentId={item.id} />
          <ModelsPanel item={item} steps={analysis.provenance} analysedAt={analysedAt} />
          <OutputsPanel contentId={item.id} />
        </aside>
      </div>
    </>
  );
}

/** When the analysis last succeeded: the newest finished job's time (provenance has none). */
function useAnalysedAt(id: string): string | undefined {
  const jobs = useItemJobs(id);
  return jobs.data?.jobs
    .filter((j) => j.status === 'succeeded')
    .map((j) => j.updated_at)
    .sort()
    .at(-1);
}

function Actions({ item }: { item: Item }) {
  const [confirm, setConfirm] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();
  const remove = useMutation({
    mutationFn: () => call(api.DELETE('/api/content/{id}', { params: { path: { id: item.id } } })),
    onSuccess: async () => {
      setConfirm(false);
      toast.success('Moved to the trash', 'You can restore it from this page or the library.');
      await qc.invalidateQueries({ queryKey: queryKeys.content.all });
    },
    onError: (err) => {
      setConfirm(false);
      toast.show({ kind: 'error', title: 'Could not delete the item', description: contentError(err) });
    },
  });
  return (
    <>
      <a
        href={item.file_url}
        download={item.filename ?? ''}
        className="inline-flex h-10 items-center gap-2 rounded-lg border border-zinc-300 bg-white px-4 text-sm font-medium text-zinc-900 shadow-sm hover:bg-zinc-50 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100 dark:hover:bg-zinc-800"
      >
        <DownloadIcon />
        Download
      </a>
      {!item.deleted_at && (
        <Button variant="ghost" icon={<TrashIcon />} onClick={() => setConfirm(true)} className="text-red-700 hover:bg-red-50 dark:text-red-300 dark:hover:bg-red-950/40">
          Delete
        </Button>
      )}
      <ConfirmDialog
        open={confirm}
        onCancel={() => setConfirm(false)}
        onConfirm={() => remove.mutate()}
        busy={remove.isPending}
        danger
        title="Move this item to the trash?"
        description={`“${item.title}” leaves your library and search. You can restore it until the trash is emptied.`}
        confirmLabel="Move to trash"
      />
    </>
  );
}

function TrashBanner({ item }: { item: Item }) {
  const qc = useQueryClient();
  const toast = useToast();
  const restore = useMutation({
    mutationFn: () => call(api.POST('/api/content/{id}/restore', { params: { path: { id: item.id } } })),
    onSuccess: async (restored) => {
      qc.setQueryData(queryKeys.content.item(item.id), restored);
      toast.success('Restored to your library');
      await qc.invalidateQueries({ queryKey: queryKeys.content.all });
    },
    onError: (err) => toast.show({ kind: 'error', title: 'Could not restore the item', description: contentError(err) }),
  });
  return (
    <div
      role="status"
      className="mb-6 flex flex-col gap-3 rounded-xl border border-red-200 bg-red-50 px-4 py-3 sm:flex-row sm:items-center sm:justify-between dark:border-red-900/50 dark:bg-red-950/30"
    >
      <p className="flex items-start gap-2 text-sm text-red-800 dark:text-red-200">
        <TrashIcon className="mt-0.5 size-4 shrink-0" />
        <span>
          This item is in the trash
          {item.purge_after ? `; it will be removed for good on ${formatDateTime(item.purge_after)}` : ''}. Restore it to edit it again.
        </span>
      </p>
      <Button variant="primary" onClick={() => restore.mutate()} loading={restore.isPending}>
        Restore
      </Button>
    </div>
  );
}

/** The page's shape while the item loads: header, viewer box, side panels. */
function DetailSkeleton() {
  return (
    <div role="status" aria-busy="true" aria-live="polite">
      <span className="sr-only">Loading the item…</span>
      <Skeleton className="h-8 w-72 max-w-full" />
      <Skeleton className="mt-2 h-4 w-56 max-w-full" />
      <div className="mt-6 grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
        <div className="space-y-6">
          <Skeleton className="aspect-video w-full rounded-2xl" />
          <Skeleton className="h-28 w-full rounded-2xl" />
        </div>
        <div className="space-y-6">
          <Skeleton className="h-56 w-full rounded-2xl" />
          <Skeleton className="h-28 w-full rounded-2xl" />
        </div>
      </div>
    </div>
  );
}
