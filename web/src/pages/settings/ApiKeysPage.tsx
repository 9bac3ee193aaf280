import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';

import { api, call, type Schema } from '../../api/client';
import { errorMessage, isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { CopyButton } from '../../ui/CopyButton';
import { cx } from '../../ui/cx';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { FormError, inputClass, TextField } from '../../ui/Field';
import { AlertIcon, KeyIcon, PlusIcon, TrashIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { RelativeTime } from '../../ui/RelativeTime';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';

type ApiKey = Schema<'ApiKeyView'>;
type CreatedKey = Schema<'CreatedApiKeyResponse'>;

function useApiKeys() {
  return useQuery({
    queryKey: queryKeys.apiKeys,
    queryFn: () => call(api.GET('/api/me/api-keys')),
    select: (d) => d.api_keys,
  });
}

/** Name the key; then show its secret once. */
function CreateKeyDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const create = useMutation({
    mutationFn: (keyName: string) => call(api.POST('/api/me/api-keys', { body: { name: keyName } })),
    onSuccess: (key) => {
      setCreated(key);
      void queryClient.invalidateQueries({ queryKey: queryKeys.apiKeys });
    },
  });

  const close = () => {
    onClose();
    // Forget the secret as soon as the dialog goes: it is never shown again.
    setCreated(null);
    setName('');
    create.reset();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) create.mutate(name.trim());
  };

  const nameError = isApiError(create.error) && create.error.field === 'name' ? create.error.message : undefined;
  const formError = create.error && !nameError ? errorMessage(create.error) : null;

  if (created) {
    return (
      <Dialog
        open={open}
        onClose={close}
        title="Copy your new key"
        description="This is the only time the key is shown. Store it somewhere safe, such as a password manager or your CI's secrets."
        footer={
          <Button variant="primary" onClick={close}>
            Done
          </Button>
        }
      >
        <div className="space-y-3">
          <label className="block text-sm font-medium" htmlFor="new-api-key">
            {created.name}
          </label>
          <div className="flex flex-col gap-2 sm:flex-row">
            <input
              id="new-api-key"
              readOnly
              value={created.key}
              onFocus={(e) => e.currentTarget.select()}
              className={cx(inputClass, 'font-mono text-xs')}
              spellCheck={false}
            />
            <CopyButton text={created.key} variant="primary" />
          </div>
          <p className="flex items-start gap-2 rounded-lg bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:bg-amber-500/10 dark:text-amber-200">
            <AlertIcon className="mt-px size-4 shrink-0" />
            <span>
              Send it as <code className="font-mono">Authorization: Bearer &lt;key&gt;</code>. Anyone with the key can act as you.
            </span>
          </p>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog
      open={open}
      onClose={close}
      title="Create an API key"
      description="Keys let scripts and other apps use Tessera's API as you."
      footer={
        <>
          <Button onClick={close}>Cancel</Button>
          <Button type="submit" form="create-api-key" variant="primary" loading={create.isPending} disabled={!name.trim()}>
            Create key
          </Button>
        </>
      }
    >
      <form id="create-api-key" onSubmit={submit} noValidate className="space-y-3">
        <FormError>{formError}</FormError>
        <TextField
          label="Name"
          placeholder="e.g. CI uploader"
          hint="Something to tell this key apart from the others."
          maxLength={100}
          required
          autoFocus
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={nameError}
        />
      </form>
    </Dialog>
  );
}

function KeyStatus({ k }: { k: ApiKey }) {
  return k.revoked_at ? <Badge>Revoked</Badge> : <Badge tone="success">Active</Badge>;
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
            <th scope="col" className="px-4 py-2.5 font-medium">Created</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Last used</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Status</th>
            <th scope="col" className="px-4 py-2.5">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
          {keys.map((k) => (
            <tr key={k.id} className={cx('grid grid-cols-[1fr_auto] gap-x-3 gap-y-1 p-4 sm:table-row sm:p-0', k.revoked_at && 'text-zinc-500 dark:text-zinc-500')}>
              <td className="min-w-0 truncate font-medium sm:px-4 sm:py-3">{k.name}</td>
              <td className="col-start-1 font-mono text-xs text-zinc-500 sm:px-4 sm:py-3 dark:text-zinc-400">
                <span className="sr-only">Key starts with </span>
                {k.prefix}…
              </td>
              <td className="col-start-1 text-xs text-zinc-500 sm:px-4 sm:py-3 sm:text-sm dark:text-zinc-400">
                <span className="sm:hidden">Created </span>
                <RelativeTime iso={k.created_at} />
              </td>
              <td className="col-start-1 text-xs text-zinc-500 sm:px-4 sm:py-3 sm:text-sm dark:text-zinc-400">
                <span className="sm:hidden">Last used </span>
                {k.last_used_at ? <RelativeTime iso={k.last_used_at} /> : 'Never'}
              </td>
              <td className="col-start-2 row-start-1 sm:px-4 sm:py-3">
                <KeyStatus k={k} />
              </td>
              <td className="col-start-2 row-start-2 row-end-5 self-end text-right sm:px-4 sm:py-3">
                {!k.revoked_at && (
                  <Button size="sm" variant="ghost" icon={<TrashIcon />} onClick={() => onRevoke(k)} aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </Button>
                )}
              </td>
            </tr>
          ))}
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
        description="Use Tessera's API from scripts and other apps. A key acts as you; revoke one you no longer use."
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
