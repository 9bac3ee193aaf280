import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

import { cx } from './cx';
import { AlertIcon, CheckIcon, InfoIcon, XIcon } from './icons';
import { ToastContext, type ToastInput, type ToastKind } from './toast';

interface Toast extends Required<Pick<ToastInput, 'title'>> {
  id: number;
  kind: ToastKind;
  description?: string | undefined;
  durationMs: number;
  action?: ToastInput['action'];
}

const MAX_TOASTS = 4;

/**
 * Toasts in one live region that exists from the start (regions inserted together with their
 * text are often not announced), so screen readers read each new toast. They pause while hovered
 * or focused and can be dismissed with their close button.
 */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => setToasts((ts) => ts.filter((t) => t.id !== id)), []);

  const show = useCallback((input: ToastInput) => {
    const kind = input.kind ?? 'info';
    const toast: Toast = {
      id: nextId.current++,
      kind,
      title: input.title,
      description: input.description,
      durationMs: input.durationMs ?? (kind === 'error' ? 8_000 : 4_500),
      ...(input.action ? { action: input.action } : {}),
    };
    setToasts((ts) => [...ts.slice(-(MAX_TOASTS - 1)), toast]);
  }, []);

  return (
    <ToastContext value={show}>
      {children}
      <section
        aria-label="Notifications"
        className="pointer-events-none fixed inset-x-0 bottom-0 z-50 flex flex-col items-center gap-2 p-4 sm:items-end"
      >
        <ol className="flex w-full max-w-sm flex-col gap-2" aria-live="polite" aria-relevant="additions">
          {toasts.map((t) => (
            <ToastItem key={t.id} toast={t} onDismiss={dismiss} />
          ))}
        </ol>
      </section>
    </ToastContext>
  );
}

const icons: Record<ToastKind, ReactNode> = {
  info: <InfoIcon className="size-5 text-brand-500" />,
  success: <CheckIcon className="size-5 text-emerald-500" />,
  error: <AlertIcon className="size-5 text-red-500" />,
};

function ToastItem({ toast, onDismiss }: { toast: Toast; onDismiss: (id: number) => void }) {
  const [paused, setPaused] = useState(false);
  useEffect(() => {
    if (paused) return;
    const timer = setTimeout(() => onDismiss(toast.id), toast.durationMs);
    return () => clearTimeout(timer);
  }, [paused, toast.id, toast.durationMs, onDismiss]);

  return (
    <li
      onMouseEnter={() => setPaused(true)}
      onMouseLeave={() => setPaused(false)}
      onFocus={() => setPaused(true)}
      onBlur={() => setPaused(false)}
      className={cx(
        'pointer-events-auto flex animate-toast-in items-start gap-3 rounded-xl border bg-white p-3.5 shadow-lg',
        'border-zinc-200 dark:border-zinc-800 dark:bg-zinc-900',
      )}
    >
      <span className="mt-0.5">{icons[toast.kind]}</span>
      {toast.kind === 'error' && <span className="sr-only">Error: </span>}
      <div className="min-w-0 flex-1">
        <p className="text-sm font-medium text-zinc-900 dark:text-zinc-100">{toast.title}</p>
        {toast.description && <p className="mt-0.5 text-sm break-words text-zinc-600 dark:text-zinc-400">{toast.description}</p>}
      </div>
      {toast.action && (
        <button
          type="button"
          onClick={() => {
            toast.action?.onClick();
            onDismiss(toast.id);
          }}
          className="-my-1 shrink-0 rounded-md px-2 py-1 text-sm font-semibold text-brand-600 hover:bg-brand-50 dark:text-brand-100 dark:hover:bg-brand-500/15"
        >
          {toast.action.label}
        </button>
      )}
      <button
        type="button"
        onClick={() => onDismiss(toast.id)}
        className="-m-1 rounded-md p-1 text-zinc-400 hover:text-zinc-700 dark:hover:text-zinc-200"
        aria-label="Dismiss notification"
      >
        <XIcon />
      </button>
    </li>
  );
}
