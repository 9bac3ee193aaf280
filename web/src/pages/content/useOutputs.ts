import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';

import { api, call } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import type { Item } from './useContentItem';

/** The items models made from this one (summaries, descriptions, transcripts, narrations). */
export function useOutputs(id: string) {
  return useQuery({
    queryKey: queryKeys.content.list({ generated_from: id }),
    queryFn: () => call(api.GET('/api/content', { params: { query: { generated_from: id, limit: 50 } } })),
  });
}

/** The newest output of a kind (`summary`, `description`, ...), if any. */
export function latestOutput(items: Item[] | undefined, kind: string): Item | undefined {
  return items
    ?.filter((i) => i.generation?.kind === kind && !i.deleted_at)
    .sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
}

export type GenerateKind = 'summary' | 'description';

/** Asks a model for a summary or a description of the item: a new text item generated from it. */
export function useGenerate(id: string, kind: GenerateKind) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () =>
      kind === 'summary'
        ? call(api.POST('/api/generate/summary', { body: { content_id: id } }))
        : call(api.POST('/api/generate/description', { body: { content_id: id } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: queryKeys.content.list({ generated_from: id }) }),
  });
}
