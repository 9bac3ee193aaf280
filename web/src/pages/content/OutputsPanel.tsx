import { Link } from 'react-router';

import { Badge } from '../../ui/Badge';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { Muted, Panel } from './Panel';
import { useOutputs } from './useOutputs';

const KINDS: Record<string, string> = {
  speech: 'Speech',
  transcript: 'Transcript',
  description: 'Description',
  summary: 'Summary',
  narration: 'Narration',
};

/** Items a model made from this one, newest first, each a link to its own page. */
export function OutputsPanel({ contentId }: { contentId: string }) {
  const outputs = useOutputs(contentId);
  return (
    <Panel title="Made from this">
      {outputs.isPending ? (
        <div className="space-y-2" role="status" aria-label="Loading generated items">
          <Skeleton className="h-9 w-full" />
        </div>
      ) : outputs.isError ? (
        <Muted>Generated items could not be loaded.</Muted>
      ) : outputs.data.items.length === 0 ? (
        <Muted>Nothing yet. Summaries, descriptions, transcripts and narrations made from this item appear here.</Muted>
      ) : (
        <ul className="-mx-2 space-y-0.5">
          {outputs.data.items.map((o) => (
            <li key={o.id}>
              <Link
                to={`/content/${o.id}`}
                className="flex items-center justify-between gap-3 rounded-lg px-2 py-2 text-sm hover:bg-zinc-100 dark:hover:bg-zinc-800"
              >
                <span className="min-w-0">
                  <span className="block truncate font-medium text-zinc-800 dark:text-zinc-200">{o.title}</span>
                  <span className="block text-xs text-zinc-500 dark:text-zinc-400">
                    <RelativeTime iso={o.created_at} />
                  </span>
                </span>
                <Badge tone="brand">{KINDS[o.generation?.kind ?? ''] ?? o.modality}</Badge>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </Panel>
  );
}
