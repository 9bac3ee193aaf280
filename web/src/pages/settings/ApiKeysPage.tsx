import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { ConfirmDialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { KeyIcon, PlusIcon, TrashIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { isExpired, KeyExpiry, ScopeBadges } from './apiKeyParts';
import { CreateKeyDialog } from './CreateKeyDialog';

type ApiKey = Schema<'ApiKeyView'>;

function useApiKeys() {
  return useQuery({
    queryKey: queryKeys.apiKeys,
    queryFn: () => call(api.GET('/api/me/api-keys')),
    select: (d) => d.api_keys,
  });
}

function KeyStatus({ k, expired }: { k: ApiKey; expired: boolean }) {
  if (k.revoked_at) return <Badge>Revoked</Badge>;
  return expired ? <Badge tone="danger">Expired</Badge> : <Badge tone="success">Active</Badge>;
}

function KeyRows({ keys, onRevoke }: { keys: ApiKey[]; onRevoke: (k: ApiKey) => void }) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">Your API keys</caption>
        <thead className="hidden bg-zinc-50 text-xs text-zinc-500 sm:table-header-group dark:bg-zinc-900/60 dark:text-zinc-400">
          <tr>
            <th scope="col" className="px-4 py-2.5 font-medium">Name</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Key</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Scopes</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Created</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Last used</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Expiry</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Status</th>
            <th scope="col" className="px-4 py-2.5">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
          {keys.map((k) => {
            const expired = isExpired(k.expires_at);
            const inactive = Boolean(k.revoked_at) || expired;
            return (
              <tr
                key={k.id}
                className={cx('grid grid-cols-[1fr_auto] gap-x-3 gap-y-1 p-4 sm:table-row sm:p-0', inactive && 'text-zinc-500 dark:text-zinc-500')}
              >
                <td className="min-w-0 truncate font-medium sm:px-4 sm:py-3">{k.name}</td>
                <td className="col-start-1 font-mono text-xs text-zinc-500 sm:px-4 sm:py-3 dark:text-zinc-400">
                  <span className="sr-only">Key starts with </span>
                  {k.prefix}…
                </td>
                <td className="col-start-1 py-0.5 sm:px-4 sm:py-3">
                  <ScopeBadges scopes={k.scopes} className={cx(inactive && 'opacity-60')} />
                </td>
                <td className="col-start-1 text-xs text-zinc-500 sm:px-4 sm:py-3 sm:text-sm dark:text-zinc-400">
                  <span className="sm:hidden">Created </span>
                  <RelativeTime iso={k.created_at} />
                </td>
                <td className="col-start-1 text-xs text-zinc-500 sm:px-4 sm:py-3 sm:text-sm dark:text-zinc-400">
                  <span className="sm:hidden">Last used </span>
                  {k.last_used_at ? <RelativeTime iso={k.last_used_at} /> : 'Never'}
                </td>
                <td className="col-start-1 text-xs text-zinc-500 sm:px-4 sm:py-3 sm:text-sm dark:text-zinc-400">
                  <KeyExpiry expiresAt={k.expires_at} />
                </td>
                <td className="col-start-2 row-start-1 sm:px-4 sm:py-3">
                  <KeyStatus k={k} expired={expired} />
                </td>
                <td className="col-start-2 row-start-2 row-end-7 self-end text-right sm:px-4 sm:py-3">
                  {!k.revoked_at && (
                    <Button size="sm" variant="ghost" icon={<TrashIcon />} onClick={() => onRevoke(k)} aria-label={`Revoke ${k.name}`}>
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function KeyRowsSkeleton() {
  return (
    <div role="status" aria-busy="true" className="space-y-px overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <span className="sr-only">Loading API keys…</span>
      {Array.from({ length: 3 }, (_, i) => (
        <div key={i} className="flex h-[57px] items-center gap-4 px-4">
          <Skeleton className="h-4 w-32" />
          <Skeleton className="h-4 w-20" />
          <Skeleton className="ml-auto h-5 w-14 rounded-full" />
        </div>
      ))}
    </div>
  );
}

/** `/settings/api-keys`: list, create (secret shown once) and revoke the user's API keys. */
export default function ApiKeysPage() {
  const keys = useApiKeys();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  const revoke = useMutation({
    mutationFn: (id: string) => call(api.DELETE('/api/me/api-keys/{id}', { params: { path: { id } } })),
    onSuccess: () => {
      toast.success('Key revoked', revoking ? `“${revoking.name}” no longer works.` : undefined);
      setRevoking(null);
      void queryClient.invalidateQueries({ queryKey: queryKeys.apiKeys });
    },
    onError: (err) => toast.error(err, 'Could not revoke the key'),
  });

  const createButton = (
    <Button variant="primary" icon={<PlusIcon />} onClick={() => setCreating(true)}>
      Create key
    </Button>
  );

  return (
    <>
      <PageHeader
        title="API keys"
        description="Use Tessera's API from scripts and other apps. A key acts as you within its scopes, until it expires or you revoke it."
        actions={keys.data && keys.data.length > 0 ? createButton : undefined}
      />
      {keys.isPending ? (
        <KeyRowsSkeleton />
      ) : keys.isError ? (
        <ErrorPanel error={keys.error} retry={() => void keys.refetch()} title="Could not load your keys" />
      ) : keys.data.length === 0 ? (
        <EmptyState icon={<KeyIcon />} title="No API keys yet" description="Create a key to call the API with `Authorization: Bearer <key>`." action={createButton} />
      ) : (
        <KeyRows keys={keys.data} onRevoke={setRevoking} />
      )}

      <CreateKeyDialog open={creating} onClose={() => setCreating(false)} />
      <ConfirmDialog
        open={revoking !== null}
        onCancel={() => setRevoking(null)}
        onConfirm={() => revoking && revoke.mutate(revoking.id)}
        busy={revoke.isPending}
        danger
        title={`Revoke “${revoking?.name ?? ''}”?`}
        description="Anything that uses this key stops working at once. This cannot be undone."
        confirmLabel="Revoke key"
      />
    </>
  );
}
