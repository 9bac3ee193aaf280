import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';

import { api, call, type Schema } from '../../api/client';
import { isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { Dialog } from '../../ui/Dialog';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { FormError, inputClass, TextField } from '../../ui/Field';
import { formatBytes } from '../../ui/format';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { formatSeconds } from '../usage/usageData';
import { adminErrorMessage } from './errors';

type User = Schema<'AdminUserView'>;
type Limits = Schema<'Limits'>;
type QuotaBody = Schema<'SetQuotaRequest'>;

const UNITS = { MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 } as const;
type Unit = keyof typeof UNITS;
const MAX_U32 = 4_294_967_295;
/** The server stores limits as signed 64-bit numbers; JavaScript is exact up to 2^53. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

type Field = 'storage_bytes' | 'uploads_per_day' | 'processing_seconds_per_day';
type Errors = Partial<Record<Field, string>>;

/** The unit that shows `bytes` as a short number (whole where possible). */
function storageParts(bytes: number): { value: string; unit: Unit } {
  const unit: Unit = bytes >= UNITS.TB && bytes % UNITS.TB === 0 ? 'TB' : bytes >= UNITS.GB ? 'GB' : 'MB';
  return { value: String(Math.round((bytes / UNITS[unit]) * 1000) / 1000), unit };
}

function wholeNumber(raw: string): number | null {
  const t = raw.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}

interface Draft {
  storage: string;
  unit: Unit;
  uploads: string;
  processing: string;
}

/** Checks the draft and builds the request; an empty field is left out (the server default). */
export function quotaRequest(draft: Draft, initial: Limits): { body: QuotaBody; errors: Errors } {
  const errors: Errors = {};
  const body: QuotaBody = {};
  const initialStorage = storageParts(initial.storage_bytes);
  if (draft.storage.trim() !== '') {
    const n = Number(draft.storage.trim());
    if (!/^\d+(\.\d+)?$/.test(draft.storage.trim()) || !Number.isFinite(n)) errors.storage_bytes = 'Enter a number of 0 or more.';
    else {
      // Untouched: send the exact byte count back, not a rounded one.
      const bytes = draft.storage.trim() === initialStorage.value && draft.unit === initialStorage.unit ? initial.storage_bytes : Math.round(n * UNITS[draft.unit]);
      if (bytes > MAX_SAFE) errors.storage_bytes = 'That is more than the server can store.';
      else body.storage_bytes = bytes;
    }
  }
  if (draft.uploads.trim() !== '') {
    const n = wholeNumber(draft.uploads);
    if (n === null) errors.uploads_per_day = 'Enter a whole number of 0 or more.';
    else if (n > MAX_U32) errors.uploads_per_day = `At most ${MAX_U32.toLocaleString()}.`;
    else body.uploads_per_day = n;
  }
  if (draft.processing.trim() !== '') {
    const n = wholeNumber(draft.processing);
    if (n === null) errors.processing_seconds_per_day = 'Enter a whole number of seconds, 0 or more.';
    else if (n > MAX_SAFE) errors.processing_seconds_per_day = 'That is more than the server can store.';
    else body.processing_seconds_per_day = n;
  }
  return { body, errors };
}

function QuotaForm({ user, limits, onSaved, onCancel }: { user: User; limits: Limits; onSaved: () => void; onCancel: () => void }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const storage = storageParts(limits.storage_bytes);
  const [draft, setDraft] = useState<Draft>({
    storage: storage.value,
    unit: storage.unit,
    uploads: String(limits.uploads_per_day),
    processing: String(limits.processing_seconds_per_day),
  });
  const [errors, setErrors] = useState<Errors>({});
  const storageId = useId();

  const save = useMutation({
    mutationFn: (body: QuotaBody) => call(api.PUT('/api/admin/users/{id}/quota', { params: { path: { id: user.id } }, body })),
    onSuccess: () => {
      toast.success('Quota saved', `New limits apply to ${user.email} at once.`);
      void queryClient.invalidateQueries({ queryKey: queryKeys.admin.all });
      onSaved();
    },
    onError: (err) => {
      if (isApiError(err) && err.field && ['storage_bytes', 'uploads_per_day', 'processing_seconds_per_day'].includes(err.field)) {
        setErrors({ [err.field]: err.message });
      }
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const { body, errors: found } = quotaRequest(draft, limits);
    setErrors(found);
    if (Object.keys(found).length === 0) save.mutate(body);
  };

  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const fieldError = isApiError(save.error) && save.error.field;
  const formError = save.error && !fieldError ? adminErrorMessage(save.error) : null;
  const uploadsNow = wholeNumber(draft.uploads);
  const secondsNow = wholeNumber(draft.processing);

  return (
    <form onSubmit={submit} noValidate className="space-y-4">
      <FormError>{formError}</FormError>
      <div className="space-y-1.5">
        <label htmlFor={storageId} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
          Storage
        </label>
        <div className="flex gap-2">
          <input
            id={storageId}
            className={inputClass}
            inputMode="decimal"
            autoComplete="off"
            value={draft.storage}
            onChange={(e) => set({ storage: e.target.value })}
            aria-invalid={errors.storage_bytes ? true : undefined}
            aria-describedby={`${storageId}-hint`}
          />
          <select aria-label="Storage unit" value={draft.unit} onChange={(e) => set({ unit: e.target.value as Unit })} className={cx(inputClass, 'w-24 shrink-0')}>
            {(Object.keys(UNITS) as Unit[]).map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </div>
        <div id={`${storageId}-hint`}>
          {errors.storage_bytes ? (
            <p className="text-xs font-medium text-red-600 dark:text-red-400">{errors.storage_bytes}</p>
          ) : (
            <p className="text-xs text-zinc-500 dark:text-zinc-400">{draft.storage.trim() === '' ? 'Empty: the server default.' : 'What they may keep stored, in all.'}</p>
          )}
        </div>
      </div>
      <TextField
        label="Uploads per day"
        inputMode="numeric"
        value={draft.uploads}
        onChange={(e) => set({ uploads: e.target.value })}
        error={errors.uploads_per_day}
        hint={errors.uploads_per_day ? undefined : draft.uploads.trim() === '' ? 'Empty: the server default.' : uploadsNow === 0 ? 'No uploads at all.' : 'Counted per UTC day.'}
        autoComplete="off"
      />
      <TextField
        label="Processing seconds per day"
        inputMode="numeric"
        value={draft.processing}
        onChange={(e) => set({ processing: e.target.value })}
        error={errors.processing_seconds_per_day}
        hint={errors.processing_seconds_per_day ? undefined : draft.processing.trim() === '' ? 'Empty: the server default.' : secondsNow !== null ? `About ${formatSeconds(secondsNow)} of analysis a day.` : undefined}
        autoComplete="off"
      />
      <p className="text-xs text-zinc-500 dark:text-zinc-400">
        Now: {formatBytes(limits.storage_bytes)} of storage, {limits.uploads_per_day.toLocaleString()} uploads and {formatSeconds(limits.processing_seconds_per_day)} of processing a day. Clear a
        field to go back to the server default.
      </p>
      <div className="mt-6 flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <Button onClick={onCancel} disabled={save.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" loading={save.isPending}>
          Save quota
        </Button>
      </div>
    </form>
  );
}

/** Edit a user's limits; opens on their current ones (read from `GET /api/usage?user_id=`). */
export function QuotaDialog({ user, onClose }: { user: User | null; onClose: () => void }) {
  const limits = useQuery({
    queryKey: queryKeys.admin.userUsage(user?.id ?? ''),
    queryFn: () => call(api.GET('/api/usage', { params: { query: { user_id: user?.id ?? '' } } })),
    enabled: user !== null,
    select: (u) => u.limits,
  });
  return (
    <Dialog
      open={user !== null}
      onClose={onClose}
      title={`Quota for ${user?.display_name || user?.email || ''}`}
      description={user ? `Limits for ${user.email}. They apply at once; what is already stored stays.` : undefined}
      footer={
        limits.data ? undefined : (
          <>
            <Button onClick={onClose}>Cancel</Button>
            <Button variant="primary" disabled>
              Save quota
            </Button>
          </>
        )
      }
    >
      {user &&
        (limits.isPending ? (
          <div role="status" aria-busy="true" className="space-y-4">
            <span className="sr-only">Loading the current limits…</span>
            {Array.from({ length: 3 }, (_, i) => (
              <div key={i} className="space-y-1.5">
                <Skeleton className="h-4 w-32" />
                <Skeleton className="h-10 w-full rounded-lg" />
              </div>
            ))}
          </div>
        ) : limits.isError ? (
          <ErrorPanel error={limits.error} retry={() => void limits.refetch()} title="Could not load the current limits" />
        ) : (
          <QuotaForm key={user.id} user={user} limits={limits.data} onSaved={onClose} onCancel={onClose} />
        ))}
    </Dialog>
  );
}
