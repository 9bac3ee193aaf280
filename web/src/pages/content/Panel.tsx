import { useId, type ReactNode } from 'react';

import { cx } from '../../ui/cx';

/**
 * A titled card of the detail page. It is a `region` named by its heading, so screen reader users
 * can jump between the parts of the page (and tests find "Transcript" by role).
 */
export function Panel({
  title,
  actions,
  children,
  className,
  bodyClassName,
}: {
  title: string;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  bodyClassName?: string;
}) {
  const id = useId();
  return (
    <section
      aria-labelledby={id}
      className={cx('rounded-2xl border border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900/60', className)}
    >
      <div className="flex min-h-12 items-center justify-between gap-3 border-b border-zinc-100 px-4 py-2 dark:border-zinc-800">
        <h2 id={id} className="text-sm font-semibold text-zinc-900 dark:text-zinc-100">
          {title}
        </h2>
        {actions && <div className="flex items-center gap-1">{actions}</div>}
      </div>
      <div className={cx('p-4', bodyClassName)}>{children}</div>
    </section>
  );
}

/** A quiet line saying a part is empty or not there yet. */
export function Muted({ children }: { children: ReactNode }) {
  return <p className="text-sm text-zinc-500 dark:text-zinc-400">{children}</p>;
}
