import { useQuery } from '@tanstack/react-query';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Badge, type BadgeTone } from '../../ui/Badge';

type Worker = Schema<'WorkerView'>;

/** What each worker does, by its name on the server; others show their name. */
const LABELS: Record<string, string> = {
  previews: 'Previews',
  sweeper: 'Sweeper',
  'cache-announcements': 'Cache invalidation',
  'cache-redis': 'Shared cache sync',
};

export function workerLabel(w: Worker): string {
  if (w.name.startsWith('rebuild:')) return `Rebuild of ${w.name.slice('rebuild:'.length)}`;
  return LABELS[w.name] ?? w.name;
}

export function workerState(w: Worker): { label: string; tone: BadgeTone } {
  if (w.down) return { label: 'Restarting', tone: 'danger' };
  if (w.running) return w.restarts > 0 ? { label: 'Running', tone: 'warning' } : { label: 'Running', tone: 'success' };
  return { label: 'Stopped', tone: 'neutral' };
}

/** The supervised background work of the node that answered (projectors are on the Projections page). */
export function WorkersPanel() {
  const workers = useQuery({
    queryKey: queryKeys.admin.workers,
    queryFn: () => call(api.GET('/api/admin/workers')),
    refetchInterval: 5_000,
  });
  if (!workers.data) {
    return workers.isError ? <p className="mb-6 text-xs text-zinc-500 dark:text-zinc-400">The state of the background workers is not available.</p> : null;
  }
  const shown = workers.data.workers.filter((w) => w.kind !== 'projector');
  return (
    <section aria-labelledby="workers-heading" className="mb-6">
      <h2 id="workers-heading" className="mb-2 text-sm font-medium text-zinc-900 dark:text-zinc-50">
        Background workers <span className="font-normal text-zinc-500 dark:text-zinc-400">on {workers.data.node}</span>
      </h2>
      {workers.data.degraded && (
        <p role="status" className="mb-2 text-xs text-red-700 dark:text-red-400">
          Some of this node&apos;s work is down and restarting; requests are still served.
        </p>
      )}
      <ul className="divide-y divide-zinc-200 overflow-hidden rounded-xl border border-zinc-200 text-sm dark:divide-zinc-800 dark:border-zinc-800">
        {shown.map((w) => {
          const state = workerState(w);
          return (
            <li key={w.name} className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-2.5">
              <span className="font-medium text-zinc-900 dark:text-zinc-50">{workerLabel(w)}</span>
              <Badge tone={state.tone}>{state.label}</Badge>
              {w.restarts > 0 && (
                <span className="text-xs text-zinc-500 dark:text-zinc-400">
                  {w.restarts} restart{w.restarts === 1 ? '' : 's'}
                </span>
              )}
              {w.last_error && <span className="w-full truncate text-xs text-zinc-600 dark:text-zinc-400">Last failure: {w.last_error}</span>}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
