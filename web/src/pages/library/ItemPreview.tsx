import { useQuery } from '@tanstack/react-query';
import { memo, useRef, type ReactNode } from 'react';

import { cx } from '../../ui/cx';
import { formatDuration } from './format';
import { AudioIcon, FileTextIcon, ImageIcon, PlayIcon, VideoIcon } from './icons';
import { snippetQuery } from './snippet';
import type { Item } from './types';
import { useSeen } from './useInView';
import { Waveform } from './Waveform';

/** A text item's first lines: its summary once analysed, else the start of its text (fetched when seen). */
function TextSnippet({ item, compact }: { item: Item; compact: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const result = item.analysis.result;
  const summary = result && 'summary' in result && result.summary ? result.summary : null;
  const seen = useSeen(ref, !summary && !compact);
  // The first screen's snippets were prefetched with the list (listQuery.ts): cached data shows
  // even while the query is not enabled yet.
  const { data } = useQuery({ ...snippetQuery(item), enabled: seen && !summary && !compact });
  const text = data || summary || item.description || '';
  if (compact) return <FileTextIcon className="size-5" />;
  return (
    <div ref={ref} className="h-full w-full overflow-hidden p-3 text-left">
      {text ? (
        <p className="line-clamp-6 text-xs leading-relaxed whitespace-pre-line text-zinc-600 dark:text-zinc-300">{text}</p>
      ) : (
        <div aria-hidden="true" className="space-y-2 pt-1">
          <div className="h-2 w-11/12 rounded bg-zinc-200 dark:bg-zinc-700/70" />
          <div className="h-2 w-full rounded bg-zinc-200 dark:bg-zinc-700/70" />
          <div className="h-2 w-4/5 rounded bg-zinc-200 dark:bg-zinc-700/70" />
          <div className="h-2 w-2/3 rounded bg-zinc-200 dark:bg-zinc-700/70" />
        </div>
      )}
    </div>
  );
}

function Thumb({ item, name, compact }: { item: Item; name: string; compact: boolean }) {
  const imgs = item.previews.images;
  const pic = imgs.find((p) => p.name === name) ?? imgs.find((p) => p.name.startsWith('thumb')) ?? imgs[0];
  if (!pic) return null;
  return (
    <img
      src={pic.url}
      width={pic.width}
      height={pic.height}
      loading="lazy"
      decoding="async"
      alt=""
      draggable={false}
      className={cx('h-full w-full object-cover', compact && 'rounded-md')}
    />
  );
}

/**
 * What a card shows above its title, in a box of fixed proportions (no jump when the picture
 * arrives): a thumbnail, a poster with the duration, a waveform, or the first lines of text.
 */
export const ItemPreview = memo(function ItemPreview({ item, compact = false }: { item: Item; compact?: boolean }) {
  const state = item.previews.state;
  const duration = item.media.duration_secs;
  let body: ReactNode;
  if (item.modality === 'text') {
    body = <TextSnippet item={item} compact={compact} />;
  } else if (state === 'pending' || (state === 'ready' && item.modality !== 'audio' && item.previews.images.length === 0)) {
    body = <div aria-hidden="true" className="h-full w-full animate-pulse bg-zinc-200/80 dark:bg-zinc-800" />;
  } else if (item.modality === 'audio') {
    body = item.previews.waveform?.length ? (
      <Waveform peaks={item.previews.waveform} bars={compact ? 16 : 64} className={cx('text-brand-500 dark:text-brand-100', compact ? 'h-6 w-8' : 'h-16 w-4/5')} />
    ) : (
      <AudioIcon className="size-6" />
    );
  } else if (state === 'ready') {
    body = <Thumb item={item} name={compact ? 'thumb-256' : item.modality === 'video' ? 'poster' : 'thumb-256'} compact={compact} />;
  } else {
    body = item.modality === 'image' ? <ImageIcon className="size-6" /> : <VideoIcon className="size-6" />;
  }
  return (
    <div
      className={cx(
        'relative flex items-center justify-center overflow-hidden bg-zinc-100 text-zinc-400 dark:bg-zinc-800/60 dark:text-zinc-500',
        compact ? 'size-10 shrink-0 rounded-md' : 'aspect-[4/3] w-full',
        item.modality === 'text' && !compact && 'items-start bg-zinc-50 dark:bg-zinc-900',
      )}
    >
      {body}
      {!compact && item.modality === 'video' && state === 'ready' && (
        <span aria-hidden="true" className="absolute inset-0 flex items-center justify-center">
          <span className="flex size-10 items-center justify-center rounded-full bg-black/55 text-white backdrop-blur-sm">
            <PlayIcon className="size-4 translate-x-px" />
          </span>
        </span>
      )}
      {!compact && (item.modality === 'video' || item.modality === 'audio') && duration != null && (
        <span className="absolute right-2 bottom-2 rounded bg-black/70 px-1.5 py-0.5 text-[11px] font-medium text-white tabular-nums">
          <span className="sr-only">Duration </span>
          {formatDuration(duration)}
        </span>
      )}
    </div>
  );
});
