import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { LogOutIcon, MonitorIcon } from '../../ui/icons';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';

type SignIn = Schema<'SessionView'>;

/** Most recently used first (the server's order too; kept here whatever it sends). */
function byLastUse(a: SignIn, b: SignIn): number {
  return (Date.parse(b.last_used_at) || 0) - (Date.parse(a.last_used_at) || 0);
}

function useSignIns() {
  return useQuery({
    queryKey: queryKeys.sessions,
    queryFn: () => call(api.GET('/api/me/sessions')),
    select: (d) => [...d.sessions].sort(byLastUse),
  });
}

function SignInRows({ signIns, onEnd }: { signIns: SignIn[]; onEnd: (s: SignIn) => void }) {
  return (
    <ul aria-label="Signed-in devices" className="divide-y divide-zinc-200 overflow-hidden rounded-xl border border-zinc-200 dark:divide-zinc-800 dark:border-zinc-800">
      {signIns.map((s) => {
        const timesId = `sign-in-${s.id}-times`;
        return (
          <li key={s.id} className="flex items-center gap-3 px-4 py-3">
            <MonitorIcon className="size-5 shrink-0 text-zinc-400 dark:text-zinc-500" aria-hidden="true" />
            <div id={timesId} className="min-w-0 flex-1 text-sm">
              <p className="font-medium text-zinc-900 dark:text-zinc-100">
                Signed in <RelativeTime iso={s.started_at} />
              </p>
              <p className="text-xs text-zinc-500 dark:text-zinc-400">
                Last used <RelativeTime iso={s.last_used_at} />
              </p>
            </div>
            {s.current ? (
              <Badge tone="brand">This device</Badge>
            ) : (
              <Button size="sm" variant="ghost" icon={<LogOutIcon />} aria-describedby={timesId} onClick={() => onEnd(s)}>
                Sign out
              </Button>
            )}
          </li>
        );
      })}
    </ul>
  );
}

function SignInRowsSkeleton() {
  return (
    <div role="status" aria-busy="true" className="space-y-px overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <span className="sr-only">Loading signed-in devices…</span>
      {Array.from({ length: 2 }, (_, i) => (
        <div key={i} className="flex h-[61px] items-center gap-3 px-4">
          <Skeleton className="size-5 rounded" />
          <div className="space-y-1.5">
            <Skeleton className="h-4 w-36" />
            <Skeleton className="h-3 w-24" />
          </div>
          <Skeleton className="ml-auto h-7 w-20" />
        </div>
      ))}
    </div>
  );
}

/**
 * The user's live sign-ins, most recently used first, "This device" on the one that asks. Any
 * other can be signed out here: its tokens stop within seconds and its open sockets close.
 */
export function SessionList() {
  const signIns = useSignIns();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [ending, setEnding] = useState<SignIn | null>(null);

  const end = useMutation({
    mutationFn: (id: string) => call(api.DELETE('/api/me/sessions/{id}', { params: { path: { id } } })),
    onSuccess: () => {
      toast.success('Device signed out');
      setEnding(null);
    },
    onError: (err) => toast.error(err, 'Could not sign that device out'),
    // Refresh either way: a failure is often a sign-in that ended meanwhile.
    onSettled: () => queryClient.invalidateQueries({ queryKey: queryKeys.sessions }),
  });

  return (
    <>
      {signIns.isPending ? (
        <SignInRowsSkeleton />
      ) : signIns.isError ? (
        <ErrorPanel error={signIns.error} retry={() => void signIns.refetch()} title="Could not load your signed-in devices" />
      ) : signIns.data.length === 0 ? (
        <EmptyState
          icon={<MonitorIcon />}
          title="No signed-in devices"
          description="Each sign-in with your password shows here until it ends. API keys are on the API keys page."
        />
      ) : (
        <SignInRows signIns={signIns.data} onEnd={setEnding} />
      )}

      <ConfirmDialog
        open={ending !== null}
        onCancel={() => setEnding(null)}
        onConfirm={() => ending && end.mutate(ending.id)}
        busy={end.isPending}
        danger
        title="Sign out that device?"
        description={
          <>
            The device signed in <RelativeTime iso={ending?.started_at} /> is signed out within seconds and must sign in
            again. Your API keys keep working.
          </>
        }
        confirmLabel="Sign out device"
      />
    </>
  );
}
