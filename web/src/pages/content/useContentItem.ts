import { useQuery } from '@tanstack/react-query';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { authFetch } from '../../api/session';
import { ApiError } from '../../api/errors';

export type Item = Schema<'ItemView'>;
export type Job = Schema<'JobView'>;

/** One item; live events (`content.*`, `job.*`) refresh it. */
export function useContentItem(id: string) {
  return useQuery({
    queryKey: queryKeys.content.item(id),
    queryFn: () => call(api.GET('/api/content/{id}', { params: { path: { id } } })),
  });
}

/** The item's processing jobs; `job.*` events refresh them (`job.progress` does not). */
export function useItemJobs(id: string) {
  return useQuery({
    queryKey: queryKeys.jobs.list({ content_id: id }),
    queryFn: () => call(api.GET('/api/content/{id}/jobs', { params: { path: { id } } })),
  });
}

/** The largest text shown on the page; the download has the rest. */
export const TEXT_PREVIEW_BYTES = 512 * 1024;

/**
 * The text of a text item (a note, an uploaded text, a generated summary). Keyed by its bytes'
 * hash: the bytes of an item never change, so it is read once.
 */
export function useItemText(item: Pick<Item, 'id' | 'sha256' | 'file_url' | 'size'> | undefined) {
  return useQuery({
    queryKey: queryKeys.files.text(item?.id ?? '', item?.sha256 ?? ''),
    enabled: item !== undefined,
    staleTime: Infinity,
    queryFn: async ({ signal }) => {
      if (!item) return '';
      const big = item.size > TEXT_PREVIEW_BYTES;
      const res = await authFetch(new URL(item.file_url, window.location.origin), {
        signal,
        headers: big ? { range: `bytes=0-${TEXT_PREVIEW_BYTES - 1}` } : {},
      });
      if (!res.ok) throw await ApiError.fromResponse(res);
      const text = await res.text();
      // A range may cut a character in two: drop the broken tail.
      return big ? text.replace(/\uFFFD+$/, '') : text;
    },
  });
}
