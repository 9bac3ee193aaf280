import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';

import { ItemPreview } from '../library/ItemPreview';
import { similarOptions } from '../search/searchQuery';
import { Panel } from './Panel';

const MODALITY: Record<string, string> = { image: 'Image', audio: 'Audio', video: 'Video', text: 'Text' };

/** How many similar items the panel lists. */
export const SIMILAR_LIMIT = 6;

/**
 * "More like this": the items nearest in meaning to this one, each a link to its page. Nothing is
 * shown until they are known, nor when there are none (or they could not be asked for): it is a
 * suggestion, not part of the item.
 */
export function SimilarPanel({ id }: { id: string }) {
  const similar = useQuery(similarOptions(id, SIMILAR_LIMIT));
  const items = (similar.data?.items ?? []).filter((g) => g.item.id !== id).slice(0, SIMILAR_LIMIT);
  if (items.length === 0) return null;
  return (
    <Panel title="More like this" bodyClassName="p-2">
      <ul className="space-y-0.5">
        {items.map(({ item }) => (
          <li key={item.id}>
            <Link
              to={`/content/${item.id}`}
              className="flex items-center gap-3 rounded-lg px-2 py-1.5 transition-colors hover:bg-zinc-100 focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-brand-500 dark:hover:bg-zinc-800"
            >
              <ItemPreview item={item} compact />
              <span className="min-w-0">
                <span className="block truncate text-sm font-medium text-zinc-900 dark:text-zinc-100">{item.title}</span>{' '}
                <span className="block text-xs text-zinc-500 dark:text-zinc-400">{MODALITY[item.modality] ?? item.modality}</span>
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </Panel>
  );
}
