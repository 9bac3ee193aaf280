import { Component, type ErrorInfo, type ReactNode } from 'react';

import { errorMessage } from '../api/errors';
import { Button } from './Button';
import { AlertIcon } from './icons';

/**
 * What a failed part of the page shows; `retry` re-renders it. `message` replaces the error's
 * usual words (a page's own, by code); `action` goes beside the retry button.
 */
export function ErrorPanel({
  error,
  retry,
  title = 'Something went wrong',
  message,
  action,
}: {
  error: unknown;
  retry?: () => void;
  title?: string;
  message?: string;
  action?: ReactNode;
}) {
  return (
    <div role="alert" className="flex flex-col items-center rounded-2xl border border-red-200 bg-red-50/60 px-6 py-10 text-center dark:border-red-900/50 dark:bg-red-950/20">
      <AlertIcon className="size-6 text-red-500" />
      <h2 className="mt-3 text-base font-semibold text-zinc-900 dark:text-zinc-100">{title}</h2>
      <p className="mt-1 max-w-md text-sm text-zinc-600 dark:text-zinc-400">{message ?? errorMessage(error)}</p>
      {(retry || action) && (
        <div className="mt-5 flex flex-wrap justify-center gap-2">
          {action}
          {retry && <Button onClick={retry}>Try again</Button>}
        </div>
      )}
    </div>
  );
}

interface Props {
  children: ReactNode;
  /** Custom fallback; the default is an `ErrorPanel` with a retry button. */
  fallback?: (error: unknown, reset: () => void) => ReactNode;
}

/** Keeps a rendering error in one part of the page from blanking all of it. */
export class ErrorBoundary extends Component<Props, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error('render error', error, info.componentStack);
  }

  reset = () => this.setState({ error: null });

  override render() {
    const { error } = this.state;
    if (error === null) return this.props.children;
    return this.props.fallback ? this.props.fallback(error, this.reset) : <ErrorPanel error={error} retry={this.reset} />;
  }
}
