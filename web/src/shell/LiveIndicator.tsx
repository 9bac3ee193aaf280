import { useLiveStatus } from '../live/useLive';
import { cx } from '../ui/cx';

const LABEL = {
  offline: 'Offline',
  connecting: 'Connecting…',
  catching_up: 'Syncing…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
} as const;

/** A small dot saying whether live updates arrive; the text is for screen readers and hover. */
export function LiveIndicator() {
  const status = useLiveStatus();
  return (
    <span className="inline-flex items-center gap-1.5 text-xs text-zinc-500 dark:text-zinc-400" title={`Live updates: ${LABEL[status]}`}>
      <span
        aria-hidden="true"
        className={cx(
          'size-2 rounded-full',
          status === 'live' && 'bg-emerald-500',
          (status === 'connecting' || status === 'catching_up') && 'animate-pulse bg-amber-400',
          status === 'reconnecting' && 'animate-pulse bg-amber-500',
          status === 'offline' && 'bg-zinc-400',
        )}
      />
      <span className="sr-only">Live updates: </span>
      {LABEL[status]}
    </span>
  );
}
