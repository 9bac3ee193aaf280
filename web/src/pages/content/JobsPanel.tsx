import { useState } from 'react';

import { streamId } from '../../live/protocol';
import { useLiveEvents } from '../../live/useLive';
import { Badge, type BadgeTone } from '../../ui/Badge';
import { Skeleton } from '../../ui/Skeleton';
import { RelativeTime } from '../../ui/RelativeTime';
import { Muted, Panel } from './Panel';
import { useItemJobs, type Job } from './useContentItem';

const STATUS: Record<string, { label: string; tone: BadgeTone }> = {
  queued: { label: 'Queued', tone: 'neutral' },
  running: { label: 'Running', tone: 'brand' },
  retrying: { label: 'Retrying', tone: 'warning' },
  succeeded: { label: 'Done', tone: 'success' },
  dead_lettered: { label: 'Failed', tone: 'danger' },
};

const REASONS: Record<string, string> = { upload: 'Analysis after upload', reprocess: 'Analysis again (reprocess)' };

interface Progress {
  stage: string;
  percent: number;
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

/** Capitalised first letter: `transcribing` → `Transcribing`. */
const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The item's processing jobs, their state, and the running one's step and progress, live. */
export function JobsPanel({ contentId }: { contentId: string }) {
  const jobs = useItemJobs(contentId);
  const [progress, setProgress] = useState<Record<string, Progress>>({});
  const ids = new Set(jobs.data?.jobs.map((j) => j.id));

  // `job.progress` is too frequent to refetch on: the bar follows the events themselves.
  useLiveEvents('job.progress', (e) => {
    const id = streamId(e.stream);
    if (!ids.has(id)) return;
    const percent = Number(e.payload.percent);
    const stage = typeof e.payload.stage === 'string' ? e.payload.stage : '';
    if (Number.isFinite(percent)) setProgress((p) => ({ ...p, [id]: { stage, percent } }));
  });

  return (
    <Panel title="Processing">
      {jobs.isPending ? (
        <div className="space-y-2" role="status" aria-label="Loading processing jobs">
          <Skeleton className="h-5 w-2/3" />
          <Skeleton className="h-2 w-full" />
        </div>
      ) : jobs.isError ? (
        <Muted>Processing jobs could not be loaded.</Muted>
      ) : jobs.data.jobs.length === 0 ? (
        <Muted>No processing for this item.</Muted>
      ) : (
        <ul className="space-y-4">
          {[...jobs.data.jobs]
            .sort((a, b) => b.requested_at.localeCompare(a.requested_at))
            .map((job) => (
              <JobRow key={job.id} job={job} live={progress[job.id]} />
            ))}
        </ul>
      )}
    </Panel>
  );
}

function JobRow({ job, live }: { job: Job; live: Progress | undefined }) {
  const status = STATUS[job.status] ?? { label: job.status, tone: 'neutral' as const };
  const active = job.status === 'running' || job.status === 'queued' || job.status === 'retrying';
  const running = job.status === 'running';
  const percent = Math.max(job.percent, running ? (live?.percent ?? 0) : 0);
  const stage = (running && live?.stage) || job.stage || (job.status === 'queued' ? 'waiting for a worker' : '');
  const valueText = `${sentence(stage || 'working')}, ${percent}%`;
  return (
    <li className="text-sm">
      <div className="flex items-center justify-between gap-2">
        <span className="min-w-0 truncate font-medium text-zinc-800 dark:text-zinc-200">{REASONS[job.reason] ?? job.reason}</span>
        <Badge tone={status.tone}>{status.label}</Badge>
      </div>
      {active && (
        <div className="mt-2">
          <div className="flex justify-between text-xs text-zinc-600 dark:text-zinc-400">
            <span aria-hidden="true">{sentence(stage || 'working')}</span>
            <span aria-hidden="true" className="tabular-nums">
              {running ? `${percent}%` : ''}
            </span>
          </div>
          <div
            role="progressbar"
            aria-label="Analysis"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={running ? percent : undefined}
            aria-valuetext={running ? valueText : sentence(stage)}
            className="mt-1 h-1.5 overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
          >
            <div
              className={running ? 'h-full rounded-full bg-brand-500 transition-[width] duration-300' : 'h-full w-1/3 animate-pulse rounded-full bg-zinc-300 dark:bg-zinc-600'}
              style={running ? { width: `${Math.max(2, percent)}%` } : undefined}
            />
          </div>
          {/* Step changes (not every percent) are announced. */}
          <p className="sr-only" aria-live="polite">
            {sentence(stage || 'working')}
          </p>
        </div>
      )}
      {job.error && (job.status === 'retrying' || job.status === 'dead_lettered') && (
        <p className="mt-2 rounded-lg bg-red-50 px-2.5 py-1.5 text-xs text-red-700 dark:bg-red-950/40 dark:text-red-300">
          {job.status === 'retrying' ? 'The last attempt failed and will be retried: ' : 'Processing gave up: '}
          {job.error}
          {job.error_code ? <span className="font-mono"> ({job.error_code})</span> : null}
        </p>
      )}
      <p className="mt-1.5 text-xs text-zinc-500 dark:text-zinc-400">
        {job.status === 'succeeded' ? 'Finished ' : 'Requested '}
        <RelativeTime iso={job.status === 'succeeded' ? job.updated_at : job.requested_at} />
        {job.processing_ms ? ` · took ${duration(job.processing_ms)}` : ''}
        {job.attempts > 1 ? ` · ${job.attempts} attempts` : ''}
      </p>
    </li>
  );
}
