import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';

import type { Schema } from '../../api/client';
import { ApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { authFetch } from '../../api/session';
import { Spinner } from '../../ui/Spinner';
import { SkeletonText } from '../../ui/Skeleton';
import { describeError } from '../chat/apiErrors';
import { DownloadIcon } from '../chat/icons';

type Item = Schema<'ItemView'>;

const card = 'space-y-3 rounded-2xl border border-zinc-200 bg-white p-4 shadow-sm sm:p-5 dark:border-zinc-800 dark:bg-zinc-900';
const linkClass =
  'inline-flex h-8 items-center gap-1.5 rounded-lg border border-zinc-300 bg-white px-3 text-sm font-medium text-zinc-900 shadow-sm hover:bg-zinc-50 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100 dark:hover:bg-zinc-800';

function seconds(ms: number | undefined) {
  return ms === undefined ? null : `made in ${(ms / 1000).toFixed(1)} s`;
}

function Actions({ item }: { item: Item }) {
  return (
    <div className="flex flex-wrap gap-2">
      <Link to={`/content/${item.id}`} className={linkClass}>
        Open in library
      </Link>
      <a href={item.file_url} download className={linkClass}>
        <DownloadIcon />
        Download
      </a>
    </div>
  );
}

/** A generated audio item: a player, a download and a link to it in the library. */
export function AudioResult({ item }: { item: Item }) {
  return (
    <section aria-label="Result" className={card}>
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 className="min-w-0 truncate font-semibold">{item.title}</h3>
        <p className="text-xs text-zinc-500 dark:text-zinc-400">Saved to your library · {seconds(item.generation?.processing_ms)}</p>
      </div>
      <audio controls preload="metadata" src={`${item.file_url}?inline=true`} className="w-full">
        Your browser cannot play this audio; download it instead.
      </audio>
      <Actions item={item} />
    </section>
  );
}

/** A generated text item: its text, and a link to it in the library. */
export function TextResult({ item }: { item: Item }) {
  const text = useQuery({
    queryKey: [...queryKeys.content.item(item.id), 'text'],
    queryFn: async () => {
      const res = await authFetch(`${window.location.origin}${item.file_url}`);
      if (!res.ok) throw await ApiError.fromResponse(res);
      return res.text();
    },
    staleTime: Infinity,
  });
  return (
    <section aria-label="Result" className={card}>
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 className="min-w-0 truncate font-semibold">{item.title}</h3>
        <p className="text-xs text-zinc-500 dark:text-zinc-400">Saved to your library · {seconds(item.generation?.processing_ms)}</p>
      </div>
      {text.isPending ? (
        <SkeletonText lines={4} />
      ) : text.isError ? (
        <p className="text-sm text-red-600 dark:text-red-400">Could not read the result: {describeError(text.error)}</p>
      ) : (
        <div className="max-h-96 overflow-y-auto rounded-lg bg-zinc-50 p-3 text-sm leading-6 whitespace-pre-wrap dark:bg-zinc-950">{text.data}</div>
      )}
      <Actions item={item} />
    </section>
  );
}

/** What shows while a model works: generation runs in the request, so no percentage. */
export function Generating({ what }: { what: string }) {
  return (
    <div role="status" className="flex items-center gap-3 rounded-2xl border border-dashed border-zinc-300 p-5 text-sm text-zinc-600 dark:border-zinc-700 dark:text-zinc-400">
      <Spinner className="size-5" />
      <span>{what}… This can take a little while on a busy server.</span>
    </div>
  );
}
