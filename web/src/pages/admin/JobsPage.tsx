import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { streamId } from '../../live/protocol';
import { useLiveEvents } from '../../live/useLive';
import { Badge, type BadgeTone } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { QueueIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { formatSeconds } from '../usage/usageData';
import { AdminNav } from './AdminNav';
import { adminErrorMessage } from './errors';
import { WorkersPanel } from './WorkersPanel';

type Job = Schema<'JobView'>;
type JobList = Schema<'JobList'>;

/** The statuses the server filters by, failures first (its default). */
export const STATUSES = [
  { id: 'dead_lettered', label: 'Failed', tone: 'danger', empty: 'No failed jobs. Jobs that run out of attempts wait here for a retry.' },
  { id: 'retrying', label: 'Retrying', tone: 'warning', empty: 'No jobs are waiting for another attempt.' },
  { id: 'queued', label: 'Queued', tone: 'neutral', empty: 'The queue is empty.' },
  { id: 'running', label: 'Running', tone: 'brand', empty: 'Nothing is being processed right now.' },
  { id: 'succeeded', label: 'Succeeded', tone: 'success', empty: 'No finished jobs yet.' },
] as const satisfies readonly { id: string; label: string; tone: BadgeTone; empty: string }[];

type Status = (typeof STATUSES)[number];
const LIMIT = 100;

function shortId(id: string) {
  return id.slice(0, 8);
}

function RetryButton({ job }: { job: Job }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const retry = useMutation({
    mutationFn: () => call(api.POST('/api/admin/content/{id}/reprocess', { params: { path: { id: job.content_id } } })),
    onSuccess: () => {
      toast.success('Queued again', `A new ${job.modality} analysis job will run shortly.`);
      void queryClient.invalidateQueries({ queryKey: ['admin', 'jobs'] });
    },
    onError: (err) => toast.show({ kind: 'error', title: 'Could not retry the job', description: adminErrorMessage(err) }),
  });
  return (
    <Button size="sm" loading={retry.isPending} disabled={retry.isSuccess} onClick={() => retry.mutate()} aria-label={`Retry ${job.modality} item ${shortId(job.content_id)}`}>
      {retry.isSuccess ? 'Queued' : 'Retry'}
    </Button>
  );
}

function JobDetail({ job }: { job: Job }) {
  if (job.status === 'running') {
    return (
      <div className="w-full max-w-48">
        <div className="flex justify-between text-xs text-zinc-600 dark:text-zinc-400">
          <span className="truncate">{job.stage ?? 'Starting'}</span>
          <span className="tabular-nums">{job.percent}%</span>
        </div>
        <div
          role="progressbar"
          aria-label={`Progress of ${job.modality} item ${shortId(job.content_id)}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={job.percent}
          className="mt-1 h-1.5 overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
        >
          <div className="h-full rounded-full bg-brand-500 transition-[width]" style={{ width: `${job.percent}%` }} />
        </div>
      </div>
    );
  }
  if (job.error || job.error_code) {
    return (
      <div className="min-w-0 text-xs">
        {job.error_code && <code className="rounded bg-red-50 px-1.5 py-0.5 font-mono text-red-700 dark:bg-red-500/10 dark:text-red-300">{job.error_code}</code>}
        {job.error && <p className="mt-1 line-clamp-3 break-words text-zinc-600 dark:text-zinc-400">{job.error}</p>}
      </div>
    );
  }
  if (job.status === 'succeeded' && job.processing_ms != null) {
    return <span className="text-xs text-zinc-600 dark:text-zinc-400">Took {formatSeconds(job.processing_ms / 1000)}</span>;
  }
  if (job.status === 'queued' || job.status === 'retrying') {
    return (
      <span className="text-xs text-zinc-600 dark:text-zinc-400">
        Next attempt <RelativeTime iso={job.run_after} />
      </span>
    );
  }
  return <span className="text-xs text-zinc-500">—</span>;
}

function JobRows({ jobs, status }: { jobs: Job[]; status: Status }) {
  const canRetry = status.id === 'dead_lettered';
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">{status.label} jobs</caption>
        <thead className="hidden bg-zinc-50 text-xs text-zinc-500 sm:table-header-group dark:bg-zinc-900/60 dark:text-zinc-400">
          <tr>
            <th scope="col" className="px-4 py-2.5 font-medium">Item</th>
            <th scope="col" className="hidden px-4 py-2.5 font-medium md:table-cell">Reason</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Attempts</th>
            <th scope="col" className="px-4 py-2.5 font-medium">{status.id === 'running' ? 'Progress' : status.id === 'dead_lettered' || status.id === 'retrying' ? 'Last error' : 'Details'}</th>
            <th scope="col" className="hidden px-4 py-2.5 font-medium lg:table-cell">Updated</th>
            {canRetry && (
              <th scope="col" className="px-4 py-2.5">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
          {jobs.map((j) => (
            <tr key={j.id} className="grid grid-cols-[1fr_auto] gap-x-3 gap-y-1.5 p-4 sm:table-row sm:p-0">
              <td className="min-w-0 sm:px-4 sm:py-3">
                <span className="flex items-center gap-2">
                  <Badge>{j.modality}</Badge>
                  <Link to={`/content/${j.content_id}`} className="font-mono text-[13px] font-medium text-zinc-900 underline-offset-2 hover:underline dark:text-zinc-50">
                    <span className="sr-only">Item </span>
                    {shortId(j.content_id)}
                  </Link>
                </span>
                <span className="mt-0.5 block text-xs text-zinc-500 dark:text-zinc-400">
                  Owner <span className="font-mono">{shortId(j.owner)}</span>
                  {j.node ? ` · on ${j.node}` : ''}
                </span>
              </td>
              <td className="hidden text-zinc-600 md:table-cell md:px-4 md:py-3 dark:text-zinc-400">{j.reason === 'reprocess' ? 'Reprocess' : 'Upload'}</td>
              <td className="col-start-2 row-start-1 self-start text-right text-xs tabular-nums text-zinc-600 sm:px-4 sm:py-3 sm:text-left sm:text-sm dark:text-zinc-400">
                <span className="sm:hidden">Attempts </span>
                {j.attempts}
              </td>
              <td className="col-span-2 col-start-1 min-w-0 sm:max-w-md sm:px-4 sm:py-3">
                <JobDetail job={j} />
              </td>
              <td className="col-start-1 text-xs text-zinc-500 sm:hidden lg:table-cell lg:px-4 lg:py-3 lg:text-sm dark:text-zinc-400">
                <span className="lg:hidden">Updated </span>
                <RelativeTime iso={j.updated_at} />
              </td>
              {canRetry && (
                <td className="col-start-2 row-start-3 self-end text-right sm:px-4 sm:py-3">
                  <RetryButton job={j} />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** `/admin/jobs`: processing jobs across all users by status; failures with their error, and Retry. */
export default function JobsPage() {
  const [params, setParams] = useSearchParams();
  const status: Status = STATUSES.find((s) => s.id === params.get('status')) ?? STATUSES[0];
  const queryClient = useQueryClient();
  const key = queryKeys.admin.jobs({ status: status.id });
  const jobs = useQuery({
    queryKey: key,
    queryFn: () => call(api.GET('/api/admin/jobs', { params: { query: { status: status.id, limit: LIMIT } } })),
    // Live events only cover the admin's own jobs: poll for everyone's, faster while they move.
    refetchInterval: status.id === 'succeeded' || status.id === 'dead_lettered' ? 15_000 : 4_000,
  });

  // Progress is not in the log's invalidations (too frequent): move the bars directly.
  useLiveEvents('job.progress', (e) => {
    const id = streamId(e.stream);
    const { stage, percent } = e.payload as { stage?: string; percent?: number };
    queryClient.setQueryData<JobList>(queryKeys.admin.jobs({ status: 'running' }), (list) =>
      list ? { jobs: list.jobs.map((j) => (j.id === id ? { ...j, stage: stage ?? j.stage, percent: percent ?? j.percent } : j)) } : list,
    );
  });

  return (
    <>
      <AdminNav />
      <PageHeader title="Jobs" description="Processing jobs across all users. Failed jobs keep their last error until you retry them." />
      <WorkersPanel />
      <div role="group" aria-label="Status" className="-mx-1 mb-4 flex gap-1 overflow-x-auto px-1 pb-1">
        {STATUSES.map((s) => (
          <button
            key={s.id}
            type="button"
            aria-pressed={s.id === status.id}
            onClick={() => setParams(s.id === STATUSES[0].id ? {} : { status: s.id }, { replace: true })}
            className={cx(
              'h-8 shrink-0 rounded-lg px-3 text-sm font-medium transition-colors',
              s.id === status.id
                ? 'bg-zinc-900 text-white dark:bg-zinc-100 dark:text-zinc-900'
                : 'text-zinc-600 ring-1 ring-zinc-200 ring-inset hover:bg-zinc-100 dark:text-zinc-400 dark:ring-zinc-800 dark:hover:bg-zinc-800',
            )}
          >
            {s.label}
          </button>
        ))}
      </div>
      {jobs.isPending ? (
        <div role="status" aria-busy="true" className="space-y-px overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
          <span className="sr-only">Loading jobs…</span>
          {Array.from({ length: 4 }, (_, i) => (
            <div key={i} className="flex h-[65px] items-center gap-4 px-4">
              <Skeleton className="h-5 w-14 rounded-full" />
              <Skeleton className="h-4 w-24" />
              <Skeleton className="ml-auto h-4 w-40" />
            </div>
          ))}
        </div>
      ) : jobs.isError ? (
        <ErrorPanel error={jobs.error} retry={() => void jobs.refetch()} title="Could not load the jobs" />
      ) : jobs.data.jobs.length === 0 ? (
        <EmptyState icon={<QueueIcon />} title={`No ${status.label.toLowerCase()} jobs`} description={status.empty} />
      ) : (
        <>
          <JobRows jobs={jobs.data.jobs} status={status} />
          {jobs.data.jobs.length >= LIMIT && <p className="mt-3 text-xs text-zinc-500 dark:text-zinc-400">Showing the latest {LIMIT}.</p>}
        </>
      )}
    </>
  );
}
