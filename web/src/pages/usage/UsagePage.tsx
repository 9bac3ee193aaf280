import { useQuery } from '@tanstack/react-query';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { formatBytes } from '../../ui/format';
import { PageHeader } from '../../ui/PageHeader';
import { Skeleton } from '../../ui/Skeleton';
import { Meter } from './Meter';
import { UsageChart } from './UsageChart';
import { formatCount, formatSeconds } from './usageData';

type Usage = Schema<'UsageView'>;

function plural(n: number, one: string, many: string) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** The five counters: three against limits, two (tokens, audio) only counted. */
function Meters({ usage }: { usage: Usage }) {
  const { limits, today } = usage;
  return (
    <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
      <Meter
        label="Storage"
        used={usage.stored_bytes + usage.reserved_bytes}
        limit={limits.storage_bytes}
        format={formatBytes}
        note={
          usage.reserved_bytes > 0
            ? `${plural(usage.items, 'item', 'items')} stored; ${formatBytes(usage.reserved_bytes)} held for uploads in progress`
            : `${plural(usage.items, 'item', 'items')} stored`
        }
      />
      <Meter label="Uploads today" used={today.uploads} limit={limits.uploads_per_day} format={formatCount} note="Resets at midnight UTC" />
      <Meter
        label="Processing today"
        used={today.processing_seconds}
        limit={limits.processing_seconds_per_day}
        format={formatSeconds}
        note="Analysis time of your uploads"
      />
      <Meter label="Tokens today" used={today.tokens} format={formatCount} note="Read and written by language models" />
      <Meter label="Audio today" used={today.audio_seconds} format={formatSeconds} note="Transcribed or spoken" />
    </div>
  );
}

function UsageSkeleton() {
  return (
    <div role="status" aria-busy="true" className="space-y-6">
      <span className="sr-only">Loading usage…</span>
      <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
        {Array.from({ length: 5 }, (_, i) => (
          <Skeleton key={i} className="h-[138px] rounded-xl" />
        ))}
      </div>
      <Skeleton className="h-[340px] rounded-xl" />
    </div>
  );
}

/** `/usage`: storage, uploads and processing against the user's limits, and the last 30 days. */
export default function UsagePage() {
  const usage = useQuery({
    queryKey: queryKeys.usage,
    queryFn: () => call(api.GET('/api/usage')),
  });
  return (
    <>
      <PageHeader title="Usage" description="Storage, uploads and processing against your limits. Daily counters reset at midnight UTC." />
      {usage.isPending ? (
        <UsageSkeleton />
      ) : usage.isError ? (
        <ErrorPanel error={usage.error} retry={() => void usage.refetch()} title="Could not load your usage" />
      ) : (
        <div className="space-y-6">
          <section aria-labelledby="usage-today">
            <h2 id="usage-today" className="sr-only">
              Current usage and limits
            </h2>
            <Meters usage={usage.data} />
          </section>
          <UsageChart rows={usage.data.days} lastDay={usage.data.today.day} />
        </div>
      )}
    </>
  );
}
