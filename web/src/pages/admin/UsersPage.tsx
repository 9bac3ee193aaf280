import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { useAuth } from '../../auth/AuthContext';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { ConfirmDialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { inputClass } from '../../ui/Field';
import { formatBytes } from '../../ui/format';
import { UsersIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { AdminNav } from './AdminNav';
import { adminErrorMessage } from './errors';
import { QuotaDialog } from './QuotaDialog';
import { ResetLinkDialog, useResetLinks } from './ResetLink';

type User = Schema<'AdminUserView'>;
type Role = Schema<'RoleName'>;
type Totals = Schema<'UserTotals'>;

const PAGE = 50;

type Action =
  | { kind: 'role'; user: User; role: Role }
  | { kind: 'approve'; user: User }
  | { kind: 'disable'; user: User }
  | { kind: 'enable'; user: User };

/** A sign-up that waits for an administrator: approve it, or decline it (which disables it). */
function awaitsApproval(u: User): boolean {
  return u.pending && !u.disabled;
}

/** Sign-ups waiting for approval first (where they are easy to find), else in the server's order. */
function pendingFirst(users: User[]): User[] {
  return [...users].sort((a, b) => Number(awaitsApproval(b)) - Number(awaitsApproval(a)));
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

function useUsers() {
  return useInfiniteQuery({
    queryKey: queryKeys.admin.users(),
    queryFn: ({ pageParam }) =>
      call(api.GET('/api/admin/users', { params: { query: { limit: PAGE, ...(pageParam ? { after: pageParam } : {}) } } })),
    initialPageParam: '' as string,
    getNextPageParam: (last) => last.next_after ?? undefined,
  });
}

/** Stored bytes and items per user, and today's uploads: one request for the whole table. */
function useTotals() {
  const day = today();
  return useQuery({
    queryKey: queryKeys.admin.usage({ day }),
    queryFn: () => call(api.GET('/api/admin/usage', { params: { query: { from: day, to: day, limit: 1000 } } })),
    select: (d) => {
      const byUser = new Map<string, { totals?: Totals; uploadsToday: number }>();
      for (const t of d.users) byUser.set(t.user_id, { totals: t, uploadsToday: 0 });
      for (const r of d.days) {
        const entry = byUser.get(r.user_id) ?? { uploadsToday: 0 };
        entry.uploadsToday += r.uploads;
        byUser.set(r.user_id, entry);
      }
      return byUser;
    },
  });
}

function confirmText(a: Exclude<Action, { kind: 'approve' }>, isSelf: boolean): { title: string; description: string; label: string; danger: boolean } {
  const who = a.user.display_name || a.user.email;
  switch (a.kind) {
    case 'role':
      return a.role === 'admin'
        ? {
            title: `Make ${who} an administrator?`,
            description: 'Administrators manage every account, quota, model and job on this server.',
            label: 'Make admin',
            danger: false,
          }
        : {
            title: `Remove ${isSelf ? 'your' : `${who}’s`} admin rights?`,
            description: isSelf ? 'You will lose access to these pages at once.' : `${who} keeps their account and content but can no longer manage the server.`,
            label: 'Remove admin rights',
            danger: true,
          };
    case 'disable':
      if (awaitsApproval(a.user)) {
        return {
          title: `Decline ${who}’s sign-up?`,
          description: `Declining disables the account: ${a.user.email} cannot sign in. You can enable it again later; it then waits for approval once more.`,
          label: 'Decline sign-up',
          danger: true,
        };
      }
      return {
        title: `Disable ${who}?`,
        description: `${a.user.email} is signed out everywhere and can no longer sign in or use API keys. Their content stays; you can enable the account again later.`,
        label: 'Disable account',
        danger: true,
      };
    case 'enable':
      if (a.user.pending) {
        return {
          title: `Enable ${who}?`,
          description: `${a.user.email} was never approved: the sign-up waits for approval again, and they can sign in once you approve it.`,
          label: 'Enable account',
          danger: false,
        };
      }
      return {
        title: `Enable ${who}?`,
        description: `${a.user.email} can sign in and use their API keys again.`,
        label: 'Enable account',
        danger: false,
      };
  }
}

/** The toast after an action went through. */
function doneText(a: Action): string {
  const who = a.user.display_name || a.user.email;
  switch (a.kind) {
    case 'role':
      return a.role === 'admin' ? `${who} is now an administrator` : `${who} is no longer an administrator`;
    case 'approve':
      return `${who} is approved and can sign in`;
    case 'disable':
      return awaitsApproval(a.user) ? `${who}’s sign-up is declined` : `${who} is disabled`;
    case 'enable':
      return a.user.pending ? `${who} waits for approval again` : `${who} is enabled`;
  }
}

/** The error toast's title. */
function failedText(a: Action): string {
  if (a.kind === 'role') return 'Could not change the role';
  if (a.kind === 'approve') return 'Could not approve the sign-up';
  if (a.kind === 'disable' && awaitsApproval(a.user)) return 'Could not decline the sign-up';
  return `Could not ${a.kind} the account`;
}

function UsageCell({ usage, loading }: { usage: { totals?: Totals; uploadsToday: number } | undefined; loading: boolean }) {
  if (loading) return <Skeleton className="h-4 w-24" />;
  const bytes = usage?.totals?.stored_bytes ?? 0;
  const items = usage?.totals?.items ?? 0;
  return (
    <span className="flex flex-col text-xs sm:text-sm">
      <span className="tabular-nums text-zinc-900 dark:text-zinc-100">
        {formatBytes(bytes)} <span className="text-zinc-500 dark:text-zinc-400">· {items.toLocaleString()} {items === 1 ? 'item' : 'items'}</span>
      </span>
      <span className="text-xs text-zinc-500 dark:text-zinc-400">{(usage?.uploadsToday ?? 0).toLocaleString()} uploads today</span>
    </span>
  );
}

function StatusBadge({ user }: { user: User }) {
  if (awaitsApproval(user)) return <Badge tone="warning">Pending approval</Badge>;
  // Disabled before anyone approved it: a declined sign-up.
  if (user.disabled) return <Badge tone="danger">{user.pending ? 'Declined' : 'Disabled'}</Badge>;
  return <Badge tone="success">Active</Badge>;
}

/** How many sign-ups wait (among the users loaded), and what approving and declining do. */
function PendingNotice({ count, partial }: { count: number; partial: boolean }) {
  if (count === 0) return null;
  return (
    <div className="mb-4 rounded-xl border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-500/30 dark:bg-amber-500/10 dark:text-amber-200">
      <p className="font-medium">
        {count === 1 ? '1 sign-up waiting for approval' : `${count.toLocaleString()} sign-ups waiting for approval`}
        {partial && ' among the users loaded so far'}
      </p>
      <p className="mt-0.5 text-amber-800 dark:text-amber-300">
        They are listed first. Approve lets someone sign in; Decline disables the account (you can enable it again later).
      </p>
    </div>
  );
}

function UserRows({
  users,
  meId,
  totals,
  onAction,
  onQuota,
  onResetLink,
  busy: running,
  linkBusyId,
}: {
  users: User[];
  meId: string | undefined;
  totals: ReturnType<typeof useTotals>;
  onAction: (a: Action) => void;
  onQuota: (u: User) => void;
  onResetLink: (u: User) => void;
  /** The action under way, if any. */
  busy: Action | null;
  linkBusyId: string | null;
}) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">Users on this server</caption>
        <thead className="hidden bg-zinc-50 text-xs text-zinc-500 sm:table-header-group dark:bg-zinc-900/60 dark:text-zinc-400">
          <tr>
            <th scope="col" className="px-4 py-2.5 font-medium">User</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Role</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Status</th>
            <th scope="col" className="hidden px-4 py-2.5 font-medium md:table-cell">Usage</th>
            <th scope="col" className="hidden px-4 py-2.5 font-medium lg:table-cell">Joined</th>
            <th scope="col" className="px-4 py-2.5">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
          {users.map((u) => {
            const isSelf = u.id === meId;
            const busy = running?.user.id === u.id;
            const approving = busy && running?.kind === 'approve';
            const awaiting = awaitsApproval(u);
            return (
              <tr
                key={u.id}
                className={cx(
                  'grid grid-cols-[1fr_auto] gap-x-3 gap-y-2 p-4 sm:table-row sm:p-0',
                  u.disabled && 'bg-zinc-50/60 dark:bg-zinc-900/30',
                  awaiting && 'bg-amber-50/50 dark:bg-amber-500/5',
                )}
              >
                <td className="min-w-0 sm:px-4 sm:py-3">
                  <span className="flex items-center gap-2">
                    <span className="truncate font-medium text-zinc-900 dark:text-zinc-50">{u.display_name || u.email}</span>
                    {isSelf && <Badge tone="brand">You</Badge>}
                  </span>
                  <span className="block truncate text-xs text-zinc-500 dark:text-zinc-400">{u.email}</span>
                </td>
                <td className="col-start-1 sm:px-4 sm:py-3">
                  <select
                    aria-label={`Role of ${u.email}`}
                    value={u.role}
                    disabled={busy}
                    onChange={(e) => onAction({ kind: 'role', user: u, role: e.target.value as Role })}
                    className={cx(inputClass, 'h-8 w-28 py-0 text-sm')}
                  >
                    <option value="user">User</option>
                    <option value="admin">Admin</option>
                  </select>
                </td>
                <td className="col-start-2 row-start-1 self-start text-right sm:px-4 sm:py-3 sm:text-left">
                  <StatusBadge user={u} />
                </td>
                <td className="col-span-2 col-start-1 sm:hidden md:table-cell md:px-4 md:py-3">
                  <UsageCell usage={totals.data?.get(u.id)} loading={totals.isPending} />
                </td>
                <td className="hidden text-zinc-600 lg:table-cell lg:px-4 lg:py-3 dark:text-zinc-400">
                  <RelativeTime iso={u.created_at} />
                </td>
                <td className="col-span-2 col-start-1 sm:px-4 sm:py-3">
                  <div className="flex flex-wrap gap-2 sm:justify-end">
                    <Button size="sm" onClick={() => onQuota(u)} aria-label={`Edit quota of ${u.email}`}>
                      Quota
                    </Button>
                    <Button size="sm" onClick={() => onResetLink(u)} loading={linkBusyId === u.id} aria-label={`Password reset link for ${u.email}`}>
                      Reset link
                    </Button>
                    {awaiting && (
                      <Button size="sm" variant="primary" onClick={() => onAction({ kind: 'approve', user: u })} loading={approving} disabled={busy} aria-label={`Approve ${u.email}`}>
                        Approve
                      </Button>
                    )}
                    {u.disabled ? (
                      <Button size="sm" onClick={() => onAction({ kind: 'enable', user: u })} loading={busy} aria-label={`Enable ${u.email}`}>
                        Enable
                      </Button>
                    ) : (
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-950/40"
                        onClick={() => onAction({ kind: 'disable', user: u })}
                        loading={busy && !approving}
                        disabled={isSelf || approving}
                        title={isSelf ? 'You cannot disable your own account' : awaiting ? 'Declining disables the account' : undefined}
                        aria-label={`${awaiting ? 'Decline' : 'Disable'} ${u.email}`}
                      >
                        {awaiting ? 'Decline' : 'Disable'}
                      </Button>
                    )}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function UsersSkeleton() {
  return (
    <div role="status" aria-busy="true" className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <span className="sr-only">Loading users…</span>
      {Array.from({ length: 5 }, (_, i) => (
        <div key={i} className="flex h-[61px] items-center gap-4 border-b border-zinc-200 px-4 last:border-0 dark:border-zinc-800">
          <div className="space-y-1.5">
            <Skeleton className="h-4 w-36" />
            <Skeleton className="h-3 w-48" />
          </div>
          <Skeleton className="ml-auto h-8 w-28 rounded-lg" />
          <Skeleton className="h-8 w-32 rounded-lg" />
        </div>
      ))}
    </div>
  );
}

/**
 * `/admin/users`: accounts, their role, status and usage; sign-ups waiting for approval (first, and
 * counted), approve/decline, disable/enable, roles, quotas and reset links.
 */
export default function UsersPage() {
  const users = useUsers();
  const totals = useTotals();
  const meId = useAuth().user?.id;
  const queryClient = useQueryClient();
  const toast = useToast();
  const [action, setAction] = useState<Action | null>(null);
  const [quotaUser, setQuotaUser] = useState<User | null>(null);
  const links = useResetLinks();

  const run = useMutation({
    mutationFn: (a: Action) => {
      const path = { params: { path: { id: a.user.id } } };
      if (a.kind === 'role') return call(api.PUT('/api/admin/users/{id}/role', { ...path, body: { role: a.role } }));
      if (a.kind === 'approve') return call(api.POST('/api/admin/users/{id}/approve', path));
      if (a.kind === 'disable') return call(api.POST('/api/admin/users/{id}/disable', path));
      return call(api.POST('/api/admin/users/{id}/enable', path));
    },
    onSuccess: (_data, a) => {
      toast.success(doneText(a));
      setAction(null);
      void queryClient.invalidateQueries({ queryKey: queryKeys.admin.all });
      if (a.user.id === meId) void queryClient.invalidateQueries({ queryKey: queryKeys.me });
    },
    onError: (err, a) => {
      toast.show({ kind: 'error', title: failedText(a), description: adminErrorMessage(err) });
      setAction(null);
    },
  });

  // Approving needs no confirmation (declining, i.e. disabling, undoes it); the rest do.
  const onAction = (a: Action) => (a.kind === 'approve' ? run.mutate(a) : setAction(a));
  const list = pendingFirst(users.data?.pages.flatMap((p) => p.users) ?? []);
  const awaitingCount = list.filter(awaitsApproval).length;
  const text = action && action.kind !== 'approve' ? confirmText(action, action.user.id === meId) : null;

  return (
    <>
      <AdminNav />
      <PageHeader title="Users" description="Accounts on this server: their role, status, usage and quota." />
      {users.isPending ? (
        <UsersSkeleton />
      ) : users.isError ? (
        <ErrorPanel error={users.error} retry={() => void users.refetch()} title="Could not load the users" />
      ) : list.length === 0 ? (
        <EmptyState icon={<UsersIcon />} title="No users yet" description="Accounts appear here once people sign up." />
      ) : (
        <>
          <PendingNotice count={awaitingCount} partial={users.hasNextPage} />
          <UserRows
            users={list}
            meId={meId}
            totals={totals}
            onAction={onAction}
            onQuota={setQuotaUser}
            onResetLink={links.issue}
            busy={run.isPending ? (run.variables ?? null) : null}
            linkBusyId={links.busyId}
          />
          {totals.isError && <p className="mt-2 text-xs text-zinc-500 dark:text-zinc-400">Usage could not be loaded: {adminErrorMessage(totals.error)}</p>}
          {users.hasNextPage && (
            <div className="mt-4 flex justify-center">
              <Button onClick={() => void users.fetchNextPage()} loading={users.isFetchingNextPage}>
                Load more users
              </Button>
            </div>
          )}
        </>
      )}

      <ConfirmDialog
        open={action !== null}
        onCancel={() => setAction(null)}
        onConfirm={() => action && run.mutate(action)}
        busy={run.isPending}
        danger={text?.danger ?? false}
        title={text?.title ?? ''}
        description={text?.description}
        confirmLabel={text?.label ?? 'Confirm'}
      />
      <QuotaDialog user={quotaUser} onClose={() => setQuotaUser(null)} />
      <ResetLinkDialog issued={links.issued} onClose={links.close} />
    </>
  );
}
