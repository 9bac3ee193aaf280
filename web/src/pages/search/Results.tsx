import { Fragment, memo, useId } from 'react';
import { Link } from 'react-router';

import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { placeHref, placeLabel } from '../content/place';
import { ItemPreview } from '../library/ItemPreview';
import type { Hit, ItemHits, SnippetPart } from './searchQuery';

const MODALITY_LABEL: Record<string, string> = { text: 'Text', image: 'Image', audio: 'Audio', video: 'Video' };

/** What part of an item a hit is in (`Hit.kind`). */
const KIND_LABEL: Record<string, string> = {
  title: 'Title',
  note: 'Note',
  description: 'Description',
  summary: 'Summary',
  labels: 'Labels',
  ocr: 'Text in the picture',
  segment: 'Transcript',
  keyframe: 'Keyframe',
  paragraph: 'Paragraph',
};

/** A snippet with the query's words marked; always text, never markup. */
export function Snippet({ parts }: { parts: SnippetPart[] }) {
  return (
    <>
      {parts.map((p, i) =>
        p.mark ? (
          <mark key={i} className="rounded-sm bg-amber-200/80 px-0.5 text-inherit dark:bg-amber-400/30">
            {p.text}
          </mark>
        ) : (
          <Fragment key={i}>{p.text}</Fragment>
        ),
      )}
    </>
  );
}

function HitLink({ itemId, hit }: { itemId: string; hit: Hit }) {
  const kind = KIND_LABEL[hit.kind] ?? hit.kind;
  const label = placeLabel(hit.at) ?? kind;
  const text = hit.snippet.some((p) => p.text.trim()) ? hit.snippet : null;
  return (
    <li>
      <Link
        to={placeHref(itemId, hit.at)}
        title={kind}
        className="group flex flex-col gap-0.5 rounded-lg px-2 py-1.5 text-sm sm:flex-row sm:gap-3 text-zinc-700 transition-colors hover:bg-zinc-100 focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-brand-500 dark:text-zinc-300 dark:hover:bg-zinc-800"
      >
        <span className="shrink-0 pt-0.5 text-xs sm:w-24 font-medium text-zinc-500 tabular-nums group-hover:text-brand-700 dark:text-zinc-400 dark:group-hover:text-brand-100">
          {label}
        </span>{' '}
        <span className="min-w-0 break-words">
          {text ? <Snippet parts={text} /> : kind}
          {hit.by_meaning && !hit.by_words && <span className="ml-1.5 text-xs text-zinc-500 dark:text-zinc-400">· similar in meaning</span>}
        </span>
      </Link>
    </li>
  );
}

/** One item of the results: its preview, title and kind, then each place it was found. */
export const ResultGroup = memo(function ResultGroup({ group }: { group: ItemHits }) {
  const { item, hits } = group;
  const titleId = useId();
  return (
    <li>
      <article aria-labelledby={titleId} className="rounded-2xl border border-zinc-200 bg-white p-3 sm:p-4 dark:border-zinc-800 dark:bg-zinc-900/60">
        <div className="flex items-center gap-3">
          <ItemPreview item={item} compact />
          <div className="min-w-0 flex-1">
            <h3 id={titleId} className="truncate text-sm font-medium">
              <Link to={`/content/${item.id}`} className="rounded-sm text-zinc-900 hover:underline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-500 dark:text-zinc-100">
                {item.title}
              </Link>
            </h3>
            <p className="flex flex-wrap items-center gap-x-1.5 text-xs text-zinc-500 dark:text-zinc-400">
              <span>{MODALITY_LABEL[item.modality] ?? item.modality}</span>
              <span aria-hidden="true">·</span>
              <RelativeTime iso={item.created_at} />
            </p>
          </div>
        </div>
        {hits.length > 0 && (
          <ul aria-label={`Found in “${item.title}”`} className="mt-2 space-y-0.5 sm:pl-11">
            {hits.map((hit, i) => (
              <HitLink key={i} itemId={item.id} hit={hit} />
            ))}
          </ul>
        )}
      </article>
    </li>
  );
});

/** The results' shape while they load. */
export function ResultsSkeleton({ count = 3 }: { count?: number }) {
  return (
    <div role="status" aria-busy="true" aria-live="polite">
      <span className="sr-only">Searching…</span>
      <ul className="space-y-3">
        {Array.from({ length: count }, (_, i) => (
          <li key={i} aria-hidden="true" className="rounded-2xl border border-zinc-200 p-3 sm:p-4 dark:border-zinc-800">
            <div className="flex items-center gap-3">
              <Skeleton className="size-10 rounded-md" />
              <div className="flex-1 space-y-1.5">
                <Skeleton className="h-4 w-1/3" />
                <Skeleton className="h-3 w-24" />
              </div>
            </div>
            <div className="mt-3 space-y-2 sm:pl-11">
              <Skeleton className="h-4 w-11/12" />
              <Skeleton className="h-4 w-3/4" />
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
