import { createContext, useContext } from 'react';

import { errorMessage } from '../api/errors';

export type ToastKind = 'info' | 'success' | 'error';

export interface ToastInput {
  kind?: ToastKind;
  title: string;
  description?: string;
  /** Milliseconds before it goes away; errors stay longer. */
  durationMs?: number;
  /** One button in the toast (e.g. Undo); clicking it also dismisses the toast. */
  action?: { label: string; onClick: () => void };
}

export interface Toaster {
  show: (t: ToastInput) => void;
  success: (title: string, description?: string) => void;
  /** Shows any thrown value (an `ApiError` gets its friendly message). */
  error: (err: unknown, title?: string) => void;
  info: (title: string, description?: string) => void;
}

export const ToastContext = createContext<((t: ToastInput) => void) | null>(null);

/** `const toast = useToast(); toast.success('Saved'); toast.error(err, 'Could not save')`. */
export function useToast(): Toaster {
  const show = useContext(ToastContext);
  if (!show) throw new Error('useToast needs a <ToastProvider> above it');
  return {
    show,
    success: (title, description) => show({ kind: 'success', title, ...(description ? { description } : {}) }),
    info: (title, description) => show({ kind: 'info', title, ...(description ? { description } : {}) }),
    error: (err, title) =>
      show(title ? { kind: 'error', title, description: errorMessage(err) } : { kind: 'error', title: errorMessage(err) }),
  };
}
