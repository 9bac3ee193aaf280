import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import type { Item } from './useContentItem';

type Update = Schema<'UpdateRequest'>;

/** PATCH the item; the answer is the new item, put straight into the cache. */
export function useUpdateItem(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: Update) => call(api.PATCH('/api/content/{id}', { params: { path: { id } }, body })),
    onSuccess: (item: Item) => {
      qc.setQueryData(queryKeys.content.item(id), item);
      void qc.invalidateQueries({ queryKey: queryKeys.content.all, refetchType: 'none' });
    },
  });
}
