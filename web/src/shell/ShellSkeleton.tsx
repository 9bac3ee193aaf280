import { Skeleton } from '../ui/Skeleton';
import { LogoMark } from './Logo';

const logo = 'flex items-center gap-2 text-zinc-900 dark:text-zinc-50';

/**
 * The shell's outline while the user or the first page loads: same geometry, no jump. index.html
 * holds the same markup (a test keeps the two equal), so it shows before any script has run.
 */
export function ShellSkeleton() {
  return (
    <div className="min-h-dvh lg:grid lg:grid-cols-[16rem_1fr]" role="status" aria-busy="true">
      <span className="sr-only">Loading Tessera…</span>
      <div className="hidden h-dvh flex-col gap-3 border-r border-zinc-200 bg-zinc-50/80 p-4 lg:flex dark:border-zinc-800/80 dark:bg-zinc-900/40">
        <div className={`mb-4 px-1 ${logo}`} aria-hidden="true">
          <LogoMark />
        </div>
        {Array.from({ length: 6 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full rounded-lg" />
        ))}
      </div>
      <div className="flex h-14 items-center gap-2 border-b border-zinc-200 px-3 lg:hidden dark:border-zinc-800">
        <Skeleton className="size-10 rounded-lg" />
        <div className={logo} aria-hidden="true">
          <LogoMark />
        </div>
      </div>
      <div className="mx-auto w-full max-w-6xl px-4 py-6 sm:px-6 lg:px-10 lg:py-10">
        <Skeleton className="h-7 w-48" />
        <Skeleton className="mt-2 h-4 w-72 max-w-full" />
        <div className="mt-8 space-y-3">
          {Array.from({ length: 4 }, (_, i) => (
            <Skeleton key={i} className="h-14 w-full rounded-xl" />
          ))}
        </div>
      </div>
    </div>
  );
}
