import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';

import { api, call, type Schema } from '../../api/client';
import { isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { Badge, type BadgeTone } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { Dialog } from '../../ui/Dialog';
import { FormError } from '../../ui/Field';
import { RelativeTime } from '../../ui/RelativeTime';
import { useToast } from '../../ui/toast';
import { adminErrorMessage } from './errors';

type Projection = Schema<'ProjectionView'>;
export type DeadLetter = Schema<'DeadLetterView'>;
export type Decision = 'retry' | 'skip';

/** The most characters a skip's reason may have (the server counts characters, not UTF-16 units). */
export const MAX_REASON_CHARS = 500;

/** `#1,234`: a position in the event log. */
export function positionLabel(position: number): string {
  return `#${position.toLocaleString()}`;
}

/** The reason as the server will store it, and whether it may be sent. */
export function checkReason(raw: string): { reason: string; chars: number; valid: boolean } {
  const reason = raw.trim();
  const chars = [...reason].length;
  return { reason, chars, valid: chars >= 1 && chars <= MAX_REASON_CHARS };
}

export function deadLetterState(d: DeadLetter): { label: string; tone: BadgeTone; open: boolean } {
  if (d.resolution === 'applied') return { label: 'Applied', tone: 'success', open: false };
  if (d.resolution === 'skipped') return { label: 'Skipped', tone: 'neutral', open: false };
  if (d.resolution != null) return { label: d.resolution, tone: 'neutral', open: false };
  return { label: 'Open', tone: 'danger', open: true };
}

/** Whether a decision's outcome settles a `409`/`404`: the list is stale, so fetch it again. */
function staleList(err: unknown): boolean {
  return isApiError(err, 'dead_letter_resolved') || isApiError(err, 'not_found');
}

export interface DeadLettersProps {
  projection: Projection;
  /** A decision about this dead letter was accepted and the page is waiting for its outcome. */
  pending: (d: DeadLetter) => boolean;
  /** A decision was accepted (the page follows its outcome). */
  onDecided: (d: DeadLetter, decision: Decision) => void;
}

/**
 * The events one projection could not apply (`dead_letters`): open ones with Retry and Skip,
 * then the last few resolved ones.
 */
export function DeadLetters({ projection: p, pending, onDecided }: DeadLettersProps) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const [skipping, setSkipping] = useState<DeadLetter | null>(null);
  const headingId = useId();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: queryKeys.admin.projections });

  const retry = useMutation({
    mutationFn: (d: DeadLetter) =>
      call(api.POST('/api/admin/projections/{name}/dead-letters/{position}/retry', { params: { path: { name: p.name, position: d.position } } })),
    onSuccess: (_r, d) => {
      toast.info(`Retrying event ${positionLabel(d.position)} in ${p.name}`, 'The projector tries it again within a second or so.');
      onDecided(d, 'retry');
      refresh();
    },
    onError: (err, d) => {
      toast.show({ kind: 'error', title: `Could not retry event ${positionLabel(d.position)}`, description: adminErrorMessage(err) });
      if (staleList(err)) refresh();
    },
  });

  const skip = useMutation({
    mutationFn: ({ d, reason }: { d: DeadLetter; reason: string }) =>
      call(api.POST('/api/admin/projections/{name}/dead-letters/{position}/skip', { params: { path: { name: p.name, position: d.position } }, body: { reason } })),
    onSuccess: (_r, { d }) => {
      toast.success(`Skipped event ${positionLabel(d.position)} in ${p.name}`, `The ${p.name} read model will not reflect it; the skip and your reason are in the audit log.`);
      onDecided(d, 'skip');
      setSkipping(null);
      refresh();
    },
    onError: (err, { d }) => {
      // Already decided (or gone): nothing left to ask. Other failures stay in the dialog.
      if (!staleList(err)) return;
      toast.show({ kind: 'error', title: `Could not skip event ${positionLabel(d.position)}`, description: adminErrorMessage(err) });
      setSkipping(null);
      refresh();
    },
  });
  const startSkip = (d: DeadLetter) => {
    skip.reset();
    setSkipping(d);
  };

  const open = p.dead_letters.filter((d) => d.resolution == null).length;
  const blocking = p.dead_letters.find((d) => d.position === p.stalled_at && d.resolution == null);

  return (
    <section id={`dead-letters-${p.name}`} aria-labelledby={headingId} className="mt-8">
      <h2 id={headingId} className="text-sm font-medium text-zinc-900 dark:text-zinc-50">
        {`Events ${p.name} could not apply`}
      </h2>
      <p className="mt-1 mb-3 text-xs text-zinc-500 dark:text-zinc-400">
        {open === 0
          ? 'None is waiting for a decision; these are the last ones resolved.'
          : blocking && !blocking.during_rebuild
            ? `${p.name} stopped before event ${positionLabel(blocking.position)}: its reads are stale until you retry that event (once its cause is fixed) or skip it.`
            : 'A rebuild stopped at an event it could not apply; the live tables keep serving reads. Retry the event once its cause is fixed, or skip it.'}
      </p>
      <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
        <table className="w-full table-fixed text-left text-sm">
          <caption className="sr-only">{`Events ${p.name} could not apply, open ones first`}</caption>
          <thead className="hidden bg-zinc-50 text-xs text-zinc-500 md:table-header-group dark:bg-zinc-900/60 dark:text-zinc-400">
            <tr>
              <th scope="col" className="w-48 px-4 py-2.5 font-medium">Event</th>
              <th scope="col" className="px-4 py-2.5 font-medium">Error</th>
              <th scope="col" className="w-40 px-4 py-2.5 font-medium">Failures</th>
              <th scope="col" className="w-32 px-4 py-2.5 font-medium">State</th>
              <th scope="col" className="w-44 px-4 py-2.5">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
            {p.dead_letters.map((d) => {
              const state = deadLetterState(d);
              const busy = pending(d) || (retry.isPending && retry.variables.position === d.position);
              const label = positionLabel(d.position);
              return (
                <tr key={d.position} className="grid grid-cols-1 gap-y-2 p-4 md:table-row md:p-0">
                  <td className="min-w-0 align-top md:px-4 md:py-3">
                    <span className="block font-medium tabular-nums text-zinc-900 dark:text-zinc-50">
                      <span className="sr-only">Position </span>
                      {label}
                    </span>
                    <span className="block font-mono text-[13px] break-all text-zinc-800 dark:text-zinc-200">{d.event_type}</span>
                    <span className="block text-xs break-all text-zinc-500 dark:text-zinc-400">
                      Stream <span className="font-mono">{d.stream_id}</span>
                    </span>
                  </td>
                  <td className="min-w-0 align-top md:px-4 md:py-3">
                    {/* Focusable: a long error scrolls, and the keyboard can scroll it too. */}
                    <pre
                      tabIndex={0}
                      className="max-h-40 overflow-y-auto rounded font-mono text-xs break-words whitespace-pre-wrap text-red-800 focus-visible:outline-2 focus-visible:outline-brand-500 dark:text-red-300"
                    >
                      <span className="sr-only">Error: </span>
                      {d.error}
                    </pre>
                  </td>
                  <td className="align-top text-xs text-zinc-600 md:px-4 md:py-3 dark:text-zinc-400">
                    <span className="block">
                      {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
                    </span>
                    <span className="block">
                      Last failed <RelativeTime iso={d.last_failed_at} />
                    </span>
                    <span className="block">Schema v{d.version}</span>
                    {d.during_rebuild && <span className="block font-medium text-zinc-700 dark:text-zinc-300">Met during a rebuild</span>}
                  </td>
                  <td className="align-top md:px-4 md:py-3">
                    <Badge tone={state.tone}>{state.label}</Badge>
                    {d.resolved_at && (
                      <span className="mt-1 block text-xs text-zinc-500 dark:text-zinc-400">
                        <RelativeTime iso={d.resolved_at} />
                      </span>
                    )}
                  </td>
                  <td className="align-top md:px-4 md:py-3 md:text-right">
                    {state.open && (
                      <div className="flex gap-2 md:justify-end">
                        <Button size="sm" loading={busy} onClick={() => retry.mutate(d)} aria-label={`Retry event ${label} in ${p.name}`}>
                          Retry
                        </Button>
                        <Button size="sm" disabled={busy} onClick={() => startSkip(d)} aria-label={`Skip event ${label} in ${p.name}…`}>
                          Skip…
                        </Button>
                      </div>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>

      <Dialog
        open={skipping !== null}
        onClose={() => !skip.isPending && setSkipping(null)}
        title={`Skip event ${skipping ? positionLabel(skipping.position) : ''} in ${p.name}?`}
        description={`The ${p.name} read model will not reflect this event, now or after a rebuild of this version. Retry it instead if its cause has been fixed.`}
      >
        {skipping && (
          <SkipForm
            deadLetter={skipping}
            busy={skip.isPending}
            error={skip.error}
            onCancel={() => setSkipping(null)}
            onSubmit={(reason) => skip.mutate({ d: skipping, reason })}
          />
        )}
      </Dialog>
    </section>
  );
}

/** What is skipped, and the reason for the audit log (1 to 500 characters once trimmed). */
function SkipForm({
  deadLetter: d,
  busy,
  error,
  onCancel,
  onSubmit,
}: {
  deadLetter: DeadLetter;
  busy: boolean;
  error: unknown;
  onCancel: () => void;
  onSubmit: (reason: string) => void;
}) {
  const [raw, setRaw] = useState('');
  const id = useId();
  const { reason, chars, valid } = checkReason(raw);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (valid && !busy) onSubmit(reason);
  };

  const fieldError = isApiError(error) && error.field === 'reason' ? error.message : undefined;
  const formError = error && !fieldError && !staleList(error) ? adminErrorMessage(error) : null;
  const over = chars > MAX_REASON_CHARS;

  return (
    <form onSubmit={submit} noValidate className="space-y-4">
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 rounded-lg bg-zinc-50 px-3 py-2 text-xs dark:bg-zinc-800/60">
        <dt className="text-zinc-500 dark:text-zinc-400">Event</dt>
        <dd className="min-w-0 font-mono break-all">{d.event_type}</dd>
        <dt className="text-zinc-500 dark:text-zinc-400">Stream</dt>
        <dd className="min-w-0 font-mono break-all">{d.stream_id}</dd>
        <dt className="text-zinc-500 dark:text-zinc-400">Error</dt>
        <dd className="line-clamp-3 min-w-0 font-mono break-words">{d.error}</dd>
      </dl>
      <FormError>{formError}</FormError>
      <div className="space-y-1.5">
        <label htmlFor={id} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
          Reason
        </label>
        <textarea
          id={id}
          value={raw}
          onChange={(e) => setRaw(e.target.value)}
          rows={3}
          required
          autoFocus
          aria-invalid={over || fieldError ? true : undefined}
          aria-describedby={`${id}-hint${fieldError ? ` ${id}-error` : ''}`}
          className="block w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm text-zinc-900 shadow-sm focus:border-brand-500 focus:outline-2 focus:outline-brand-500/30 aria-invalid:border-red-500 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
        />
        <p id={`${id}-hint`} className={cx('text-xs', over ? 'font-medium text-red-600 dark:text-red-400' : 'text-zinc-500 dark:text-zinc-400')}>
          {over
            ? `${(chars - MAX_REASON_CHARS).toLocaleString()} characters too many (at most ${MAX_REASON_CHARS}).`
            : `Why it is safe to pass over this event, for the audit log: ${chars} of ${MAX_REASON_CHARS} characters.`}
        </p>
        {fieldError && (
          <p id={`${id}-error`} className="text-xs font-medium text-red-600 dark:text-red-400">
            {fieldError}
          </p>
        )}
      </div>
      <div className="mt-6 flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <Button onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
        <Button type="submit" variant="danger" disabled={!valid} loading={busy}>
          Skip event
        </Button>
      </div>
    </form>
  );
}
