import { cx } from '../../../ui/cx';
import { formatBytes } from '../../../ui/format';
import { AlertIcon, CheckIcon, XIcon } from '../../../ui/icons';
import { uploadErrorMessage } from '../messages';
import type { UploadTask } from './useUploads';

function Row({ task, onRetry, onCancel, onDismiss }: { task: UploadTask; onRetry: () => void; onCancel: () => void; onDismiss: () => void }) {
  const { file, status } = task;
  const percent = file.size ? Math.round((task.sent / file.size) * 100) : 100;
  const labelId = `upload-${task.id}`;
  return (
    <div className="py-2.5">
      <div className="flex items-center gap-2">
        <span className="shrink-0">
          {status === 'done' ? (
            <CheckIcon className="size-4 text-emerald-600 dark:text-emerald-400" />
          ) : status === 'failed' ? (
            <AlertIcon className="size-4 text-red-600 dark:text-red-400" />
          ) : (
            <span className="block size-4" />
          )}
        </span>
        <span id={labelId} className="min-w-0 flex-1 truncate text-sm font-medium text-zinc-800 dark:text-zinc-200" title={file.name}>
          {file.name}
        </span>
        <span className="shrink-0 text-xs text-zinc-500 tabular-nums dark:text-zinc-400">
          {status === 'uploading' ? `${percent}%` : status === 'queued' ? 'Waiting' : status === 'done' ? (task.duplicate ? 'Already in library' : 'Uploaded') : formatBytes(file.size)}
        </span>
        {status === 'failed' ? (
          <>
            <button type="button" onClick={onRetry} className="shrink-0 rounded-md px-1.5 py-0.5 text-xs font-semibold text-brand-600 hover:bg-brand-50 dark:text-brand-100 dark:hover:bg-brand-500/15" aria-label={`Retry ${file.name}`}>
              Retry
            </button>
            <button type="button" onClick={onDismiss} className="shrink-0 rounded-md p-1 text-zinc-400 hover:text-zinc-700 dark:hover:text-zinc-200" aria-label={`Dismiss ${file.name}`}>
              <XIcon />
            </button>
          </>
        ) : status !== 'done' ? (
          <button type="button" onClick={onCancel} className="shrink-0 rounded-md p-1 text-zinc-400 hover:text-zinc-700 dark:hover:text-zinc-200" aria-label={`Cancel ${file.name}`}>
            <XIcon />
          </button>
        ) : null}
      </div>
      {(status === 'uploading' || status === 'queued') && (
        <div
          role="progressbar"
          aria-labelledby={labelId}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          aria-valuetext={status === 'queued' ? 'Waiting to upload' : `Uploading, ${percent}%`}
          className="mt-1.5 ml-6 h-1 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800"
        >
          <div className="h-full rounded-full bg-brand-500 transition-[width] duration-200" style={{ width: `${percent}%` }} />
        </div>
      )}
      {status === 'failed' && (
        <p role="alert" className="mt-1 ml-6 text-xs text-red-700 dark:text-red-400">
          {uploadErrorMessage(task.error)}
        </p>
      )}
    </div>
  );
}

/** The uploads in progress, each with its own bar and error; pinned to the bottom corner. */
export function UploadTray({ tasks, onRetry, onCancel, onDismiss }: { tasks: UploadTask[]; onRetry: (id: string) => void; onCancel: (id: string) => void; onDismiss: (id: string) => void }) {
  const active = tasks.filter((t) => t.status === 'uploading' || t.status === 'queued').length;
  const failed = tasks.filter((t) => t.status === 'failed').length;
  return (
    <section
      aria-label="Uploads"
      className={cx(
        'fixed inset-x-3 bottom-3 z-40 max-h-[45vh] overflow-hidden rounded-2xl border border-zinc-200 bg-white shadow-2xl sm:inset-x-auto sm:left-4 sm:bottom-4 sm:w-96 lg:left-[17rem]',
        'dark:border-zinc-800 dark:bg-zinc-900',
        tasks.length === 0 && 'hidden',
      )}
    >
      <h2 className="border-b border-zinc-200 px-4 py-2.5 text-sm font-semibold text-zinc-900 dark:border-zinc-800 dark:text-zinc-100">
        <span aria-live="polite">
          {active > 0 ? `Uploading ${active} file${active === 1 ? '' : 's'}` : failed > 0 ? `${failed} upload${failed === 1 ? '' : 's'} failed` : 'Uploads finished'}
        </span>
      </h2>
      <div className="max-h-[calc(45vh-2.75rem)] divide-y divide-zinc-100 overflow-y-auto px-4 dark:divide-zinc-800">
        {tasks.map((t) => (
          <Row key={t.id} task={t} onRetry={() => onRetry(t.id)} onCancel={() => onCancel(t.id)} onDismiss={() => onDismiss(t.id)} />
        ))}
      </div>
    </section>
  );
}
