import { useCallback, useContext, useId, useSyncExternalStore } from 'react';

import { cx } from '../../ui/cx';
import { CheckIcon } from '../../ui/icons';
import { processingErrorMessage } from './messages';
import { STEPS, stepDone, stepRunning, type Progress } from './processing';
import { ProcessingContext } from './ProcessingContext';
import type { Item, Modality } from './types';

function useProgress(id: string): Progress | undefined {
  const tracker = useContext(ProcessingContext);
  const subscribe = useCallback((l: () => void) => (tracker ? tracker.subscribe(id, l) : () => undefined), [tracker, id]);
  return useSyncExternalStore(subscribe, () => tracker?.get(id));
}

function Bar({ labelId, percent, valueText }: { labelId: string; percent: number | null; valueText: string }) {
  return (
    <div
      role="progressbar"
      aria-labelledby={labelId}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent ?? undefined}
      aria-valuetext={valueText}
      className="h-1.5 w-full overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800"
    >
      {percent === null ? (
        <div className="h-full w-full animate-pulse rounded-full bg-brand-500/40" />
      ) : (
        <div className="h-full rounded-full bg-brand-500 transition-[width] duration-300" style={{ width: `${Math.max(4, percent)}%` }} />
      )}
    </div>
  );
}

/**
 * An item's processing: live step and percentage while it runs (from the socket), then
 * "Ready" or why it failed. The steps done so far are listed, so quick ones are seen too.
 */
export function ProcessingStatus({ item, compact = false }: { item: Item; compact?: boolean }) {
  const live = useProgress(item.id);
  const labelId = useId();
  const state = item.analysis.state;

  if (state === 'ready') {
    return (
      <p className="inline-flex items-center gap-1 text-xs font-medium text-emerald-700 dark:text-emerald-400">
        <CheckIcon className="size-3.5" />
        Ready
      </p>
    );
  }
  if (state === 'failed' || live?.phase === 'failed') {
    return (
      <p className="text-xs font-medium text-red-700 dark:text-red-400" title={item.analysis.error ?? live?.code}>
        {processingErrorMessage(item.analysis.error ?? live?.code)}
      </p>
    );
  }

  const steps = STEPS[item.modality as Modality] ?? [];
  const stage = live?.stage ?? null;
  const stepNo = stage ? steps.indexOf(stage) + 1 : 0;
  let label: string;
  let percent: number | null = null;
  if (!live || live.phase === 'queued') label = 'Queued for processing';
  else if (live.phase === 'retrying') label = 'Retrying after an error';
  else if (live.phase === 'finishing') label = 'Finishing up';
  else if (stage) {
    label = `${stepRunning(stage)}…`;
    percent = live.percent;
  } else label = 'Processing…';
  const valueText = stage && live?.phase === 'running' ? `${stepRunning(stage)}${stepNo > 0 ? `, step ${stepNo} of ${steps.length}` : ''}, ${live.percent}%` : label;

  return (
    <div className={cx('min-w-0 space-y-1.5', compact ? 'w-40' : 'w-full')}>
      <div className="flex items-center justify-between gap-2 text-xs">
        <span id={labelId} className="truncate font-medium text-zinc-700 dark:text-zinc-300">
          <span className="sr-only">Processing {item.title}: </span>
          {label}
        </span>
        {percent !== null && <span className="shrink-0 text-zinc-500 tabular-nums dark:text-zinc-400">{percent}%</span>}
      </div>
      <Bar labelId={labelId} percent={percent} valueText={valueText} />
      {!compact && live && live.done.length > 0 && (
        <ul aria-label="Steps done" className="flex flex-wrap gap-x-2 gap-y-0.5 text-[11px] text-zinc-500 dark:text-zinc-400">
          {live.done
            .filter((s) => s !== 'fetching')
            .map((s) => (
              <li key={s} className="inline-flex items-center gap-0.5">
                <CheckIcon className="size-3 text-emerald-600 dark:text-emerald-400" />
                {stepDone(s)}
              </li>
            ))}
        </ul>
      )}
    </div>
  );
}
