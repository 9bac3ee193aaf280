import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';

import { api, call, type Schema } from '../../api/client';
import { isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { LayersIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { AdminNav } from './AdminNav';
import { DeadLetters, positionLabel, type DeadLetter, type Decision } from './DeadLetters';
import { adminErrorMessage } from './errors';

type Projection = Schema<'ProjectionView'>;
type Projections = Schema<'ProjectionsView'>;

/** A rebuild this page started (or found running): the lease epoch it began under. */
interface Running {
  epoch: number;
  since: number;
}

/** How long to follow a rebuild before saying we lost track of it. */
const FOLLOW_MS = 10 * 60_000;

/** A decision about a dead letter this page made: followed until the projector acts on it. */
interface Watch {
  name: string;
  position: number;
  decision: Decision;
  /** Its failed attempts when the decision was made: one more means a retry failed again. */
  attempts: number;
  since: number;
}

/** The projector acts on a decision within a second or so; after this, stop polling fast. */
const WATCH_MS = 30_000;

const watchKey = (name: string, position: number) => `${name}:${position}`;

/**
 * Whether a rebuild this page follows has ended. This node reports its own rebuilds
 * (`rebuilding_here`, `last_rebuild_here`); one running on another node ends by taking over the
 * projection's lease, so a higher epoch than the one it started under means it was swapped in.
 */
export function rebuildFinished(p: Projection, run: Running): boolean {
  if (p.rebuilding_here) return false;
  const last = p.last_rebuild_here;
  if (last && Date.parse(last.finished_at) >= run.since - 1_000) return true;
  return p.epoch > run.epoch;
}

type State = { label: string; tone: 'success' | 'warning' | 'danger' | 'brand' | 'neutral'; detail?: string };

export function projectionState(p: Projection, rebuilding: boolean): State {
  if (rebuilding) return { label: 'Rebuilding', tone: 'brand', detail: 'Replaying the log beside the live tables' };
  if (p.stalled_at != null) {
    const blocking = p.dead_letters.find((d) => d.position === p.stalled_at);
    return {
      label: `Stalled at ${positionLabel(p.stalled_at)}`,
      tone: 'danger',
      detail: blocking?.during_rebuild
        ? 'A rebuild met an event it cannot apply; the live tables keep serving. Retry or skip it below.'
        : 'Reads are stale until the event it cannot apply is retried or skipped below.',
    };
  }
  if (p.running_here === false) return { label: 'Restarting', tone: 'danger', detail: p.last_error_here ?? undefined };
  if (p.last_error_here) return { label: 'Failing', tone: 'danger', detail: p.last_error_here };
  if (p.version !== p.target_version) return { label: 'Needs rebuild', tone: 'warning', detail: `Schema v${p.version}, this build expects v${p.target_version}` };
  if (p.lag === 0) return { label: 'Up to date', tone: 'success' };
  if (p.lag < 100) return { label: 'Catching up', tone: 'neutral' };
  return { label: 'Behind', tone: 'warning' };
}

/**
 * `/admin/projections`: each read model's position against the log, its lag and state; Rebuild;
 * the events each could not apply (dead letters), with Retry and Skip.
 */
export default function ProjectionsPage() {
  const queryClient = useQueryClient();
  const toast = useToast();
  const [running, setRunning] = useState<Record<string, Running>>({});
  const [confirm, setConfirm] = useState<Projection | null>(null);
  const [watching, setWatching] = useState<Record<string, Watch>>({});
  const following = Object.keys(running).length > 0;

  const runningRef = useRef(running);
  const watchingRef = useRef(watching);
  useEffect(() => {
    runningRef.current = running;
    watchingRef.current = watching;
  }, [running, watching]);

  // Report what became of the decisions we follow: a retry applied or failed again; a skip taken.
  const settleDecisions = (data: Projections) => {
    const done: string[] = [];
    for (const [key, w] of Object.entries(watchingRef.current)) {
      const d = data.projections.find((x) => x.name === w.name)?.dead_letters.find((x) => x.position === w.position);
      const label = `Event ${positionLabel(w.position)} in ${w.name}`;
      if (!d || d.resolution === 'skipped') {
        done.push(key);
      } else if (d.resolution === 'applied') {
        done.push(key);
        toast.success(`${label} applied`, `${w.name} is catching up.`);
      } else if (w.decision === 'retry' && d.resolution == null && d.attempts > w.attempts) {
        done.push(key);
        toast.show({ kind: 'error', title: `${label} failed again`, description: d.error });
      } else if (d.resolution != null || Date.now() - w.since > WATCH_MS) {
        done.push(key);
      }
    }
    if (done.length > 0) setWatching((all) => Object.fromEntries(Object.entries(all).filter(([k]) => !done.includes(k))));
  };

  // Settle the rebuilds we follow against each fresh list (in the fetch, not in render).
  const settle = (data: Projections) => {
    const done: string[] = [];
    const lost: string[] = [];
    for (const [name, run] of Object.entries(runningRef.current)) {
      const p = data.projections.find((x) => x.name === name);
      if (p && rebuildFinished(p, run)) done.push(name);
      else if (Date.now() - run.since > FOLLOW_MS) lost.push(name);
    }
    if (done.length === 0 && lost.length === 0) return;
    for (const name of done) {
      const last = data.projections.find((x) => x.name === name)?.last_rebuild_here;
      if (last && !last.succeeded) {
        toast.show({ kind: 'error', title: `The ${name} rebuild failed`, description: last.error ?? undefined });
      } else {
        toast.success(`${name} rebuilt`, 'The new read model is live.');
      }
    }
    for (const name of lost) toast.info(`Still no news of the ${name} rebuild`, 'Check the server log; refresh this page to see its state.');
    setRunning((r) => Object.fromEntries(Object.entries(r).filter(([n]) => !done.includes(n) && !lost.includes(n))));
  };

  const list = useQuery({
    queryKey: queryKeys.admin.projections,
    queryFn: async () => {
      const data = await call(api.GET('/api/admin/projections'));
      settle(data);
      settleDecisions(data);
      return data;
    },
    refetchInterval: following || Object.keys(watching).length > 0 ? 1_500 : 10_000,
  });

  const decided = (name: string) => (d: DeadLetter, decision: Decision) => {
    const key = watchKey(name, d.position);
    const watch: Watch = { name, position: d.position, decision, attempts: d.attempts, since: Date.now() };
    // Into the ref at once too: the refetch that follows may settle before the next render.
    watchingRef.current = { ...watchingRef.current, [key]: watch };
    setWatching((all) => ({ ...all, [key]: watch }));
  };

  const rebuild = useMutation({
    mutationFn: (p: Projection) => call(api.POST('/api/admin/projections/{name}/rebuild', { params: { path: { name: p.name } } })),
    onSuccess: (_r, p) => {
      setRunning((r) => ({ ...r, [p.name]: { epoch: p.epoch, since: Date.now() } }));
      setConfirm(null);
      toast.info(`Rebuilding ${p.name}`, 'Reads keep using the current tables until the new ones catch up.');
      void queryClient.invalidateQueries({ queryKey: queryKeys.admin.projections });
    },
    onError: (err, p) => {
      setConfirm(null);
      if (isApiError(err, 'rebuild_in_progress')) {
        // Started elsewhere (another tab, node or admin): follow it too.
        setRunning((r) => ({ ...r, [p.name]: r[p.name] ?? { epoch: p.epoch, since: Date.now() } }));
        toast.info(`${p.name} is already rebuilding`, 'This page follows it until it is swapped in.');
        return;
      }
      toast.show({ kind: 'error', title: `Could not rebuild ${p.name}`, description: adminErrorMessage(err) });
    },
  });

  return (
    <>
      <AdminNav />
      <PageHeader
        title="Projections"
        description={
          list.data ? (
            <>
              Read models built from the event log: how far each has read, and rebuilds. This node is <span className="font-mono">{list.data.node}</span>.
            </>
          ) : (
            'Read models built from the event log: how far each has read, and rebuilds.'
          )
        }
      />
      {list.isPending ? (
        <div role="status" aria-busy="true" className="space-y-px overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
          <span className="sr-only">Loading projections…</span>
          {Array.from({ length: 5 }, (_, i) => (
            <div key={i} className="flex h-[61px] items-center gap-4 px-4">
              <Skeleton className="h-4 w-28" />
              <Skeleton className="h-5 w-20 rounded-full" />
              <Skeleton className="ml-auto h-8 w-20 rounded-lg" />
            </div>
          ))}
        </div>
      ) : list.isError ? (
        <ErrorPanel error={list.error} retry={() => void list.refetch()} title="Could not load the projections" />
      ) : list.data.projections.length === 0 ? (
        <EmptyState icon={<LayersIcon />} title="No projections" description="This server has no read models registered." />
      ) : (
        <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Projections and their position in the event log</caption>
            <thead className="hidden bg-zinc-50 text-xs text-zinc-500 sm:table-header-group dark:bg-zinc-900/60 dark:text-zinc-400">
              <tr>
                <th scope="col" className="px-4 py-2.5 font-medium">Projection</th>
                <th scope="col" className="px-4 py-2.5 font-medium">State</th>
                <th scope="col" className="px-4 py-2.5 text-right font-medium">Position</th>
                <th scope="col" className="px-4 py-2.5 text-right font-medium">Lag</th>
                <th scope="col" className="hidden px-4 py-2.5 font-medium lg:table-cell">Lease</th>
                <th scope="col" className="hidden px-4 py-2.5 font-medium md:table-cell">Updated</th>
                <th scope="col" className="px-4 py-2.5">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
              {list.data.projections.map((p) => {
                const isRunning = p.name in running || p.rebuilding_here;
                const last = p.last_rebuild_here;
                const state = projectionState(p, isRunning);
                const open = p.dead_letters.filter((d) => d.resolution == null).length;
                return (
                  <tr key={p.name} className="grid grid-cols-[1fr_auto] gap-x-3 gap-y-1.5 p-4 sm:table-row sm:p-0">
                    <td className="min-w-0 sm:px-4 sm:py-3">
                      <span className="block font-mono text-[13px] font-medium text-zinc-900 dark:text-zinc-50">{p.name}</span>
                      <span className="block text-xs text-zinc-500 dark:text-zinc-400">
                        Schema v{p.version}
                        {p.restarts_here ? ` · ${p.restarts_here} restart${p.restarts_here === 1 ? '' : 's'} here` : ''}
                      </span>
                      {open > 0 && (
                        <a href={`#dead-letters-${p.name}`} className="block text-xs font-medium text-red-700 underline-offset-2 hover:underline dark:text-red-400">
                          {open} event{open === 1 ? '' : 's'} it could not apply
                        </a>
                      )}
                      {p.rebuild_task_here && p.rebuild_task_here.restarts > 0 && (
                        <span className="block text-xs text-amber-700 dark:text-amber-400">
                          Rebuild retried {p.rebuild_task_here.restarts} time{p.rebuild_task_here.restarts === 1 ? '' : 's'}
                          {p.rebuild_task_here.last_error ? ` · ${p.rebuild_task_here.last_error}` : ''}
                        </span>
                      )}
                      {last && (
                        <span className={`block text-xs ${last.succeeded ? 'text-zinc-500 dark:text-zinc-400' : 'text-red-700 dark:text-red-400'}`}>
                          {last.succeeded ? 'Rebuilt' : 'Rebuild failed'} <RelativeTime iso={last.finished_at} />
                          {last.succeeded && last.events != null ? ` · ${last.events.toLocaleString()} events` : ''}
                          {!last.succeeded && last.error ? ` · ${last.error}` : ''}
                        </span>
                      )}
                    </td>
                    <td className="col-start-2 row-start-1 self-start text-right sm:px-4 sm:py-3 sm:text-left">
                      <Badge tone={state.tone}>{state.label}</Badge>
                      {state.detail && <span className="mt-1 line-clamp-2 hidden max-w-56 text-xs text-zinc-500 sm:block dark:text-zinc-400">{state.detail}</span>}
                    </td>
                    <td className="col-start-1 text-xs tabular-nums text-zinc-600 sm:px-4 sm:py-3 sm:text-right sm:text-sm dark:text-zinc-300">
                      <span className="sm:hidden">Position </span>
                      {p.position.toLocaleString()}
                      <span className="text-zinc-500 dark:text-zinc-400"> of {p.head.toLocaleString()}</span>
                    </td>
                    <td className="col-start-1 text-xs tabular-nums sm:px-4 sm:py-3 sm:text-right sm:text-sm">
                      <span className="text-zinc-600 sm:hidden dark:text-zinc-400">Lag </span>
                      <span className={p.lag > 0 ? 'font-medium text-amber-700 dark:text-amber-400' : 'text-zinc-600 dark:text-zinc-300'}>
                        {p.lag.toLocaleString()}
                        <span className="sr-only"> events behind</span>
                      </span>
                    </td>
                    <td className="hidden text-xs text-zinc-600 lg:table-cell lg:px-4 lg:py-3 dark:text-zinc-400">
                      Epoch {p.epoch}
                      {p.owner_node && (
                        <>
                          {' '}
                          · <span className="font-mono">{p.owner_node}</span>
                        </>
                      )}
                    </td>
                    <td className="hidden text-zinc-600 md:table-cell md:px-4 md:py-3 dark:text-zinc-400">
                      <RelativeTime iso={p.updated_at} />
                    </td>
                    <td className="col-start-2 row-span-2 row-start-2 self-end text-right sm:px-4 sm:py-3">
                      <Button
                        size="sm"
                        loading={isRunning || (rebuild.isPending && rebuild.variables.name === p.name)}
                        onClick={() => setConfirm(p)}
                        aria-label={`Rebuild ${p.name}`}
                      >
                        {isRunning ? 'Rebuilding…' : 'Rebuild'}
                      </Button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {following && (
        <p role="status" className="mt-3 text-xs text-zinc-500 dark:text-zinc-400">
          Following {Object.keys(running).join(', ')}: refreshing every few seconds.
        </p>
      )}
      {list.isSuccess &&
        list.data.projections
          .filter((p) => p.dead_letters.length > 0)
          .map((p) => <DeadLetters key={p.name} projection={p} pending={(d) => watchKey(p.name, d.position) in watching} onDecided={decided(p.name)} />)}

      <ConfirmDialog
        open={confirm !== null}
        onCancel={() => setConfirm(null)}
        onConfirm={() => confirm && rebuild.mutate(confirm)}
        busy={rebuild.isPending}
        title={`Rebuild ${confirm?.name ?? ''}?`}
        description={`Replays the whole event log (${confirm?.head.toLocaleString() ?? 0} events) into new tables beside the live ones, then swaps them in. Reads keep working meanwhile; it can take a while on a large log.`}
        confirmLabel="Rebuild"
      />
    </>
  );
}
