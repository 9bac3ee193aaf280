import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Badge } from '../../ui/Badge';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { formatBytes } from '../../ui/format';
import { CpuIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { Meter } from '../usage/Meter';
import { AdminNav } from './AdminNav';
import { adminErrorMessage } from './errors';

type Model = Schema<'ModelView'>;
type ModelList = Schema<'ModelList'>;

const formatMb = (mb: number) => formatBytes(mb * 1024 * 1024);

function useModels() {
  return useQuery({
    queryKey: queryKeys.admin.models,
    queryFn: () => call(api.GET('/api/admin/models')),
    // Models load and unload on their own (idle timeouts, the memory budget): keep it fresh.
    refetchInterval: 15_000,
  });
}

/** Load or Unload, with its own pending state: several models can change at once. */
function ModelAction({ model }: { model: Model }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const action = model.loaded ? 'unload' : 'load';
  const control = useMutation({
    mutationFn: (a: 'load' | 'unload') => call(api.POST('/api/admin/models/{id}/{action}', { params: { path: { id: model.id, action: a } } })),
    onSuccess: (result, a) => {
      queryClient.setQueryData<ModelList>(queryKeys.admin.models, (list) =>
        list ? { ...list, models: list.models.map((m) => (m.id === result.model.id ? result.model : m)) } : list,
      );
      // Loading one may have unloaded others, and the memory figures moved.
      void queryClient.invalidateQueries({ queryKey: queryKeys.admin.models });
      if (!result.changed) toast.info(a === 'load' ? `${model.id} was already loaded` : `${model.id} was not loaded`);
      else toast.success(a === 'load' ? `${model.id} is loaded` : `${model.id} is unloaded`);
    },
    onError: (err, a) => toast.show({ kind: 'error', title: `Could not ${a} ${model.id}`, description: adminErrorMessage(err) }),
  });
  const pendingLabel = control.variables === 'load' ? 'Loading…' : 'Unloading…';
  return (
    <div className="flex flex-col items-stretch gap-1 sm:items-end">
      <Button
        size="sm"
        variant={model.loaded ? 'secondary' : 'primary'}
        loading={control.isPending}
        disabled={!model.installed && !model.loaded}
        title={!model.installed && !model.loaded ? 'Not installed on this server' : undefined}
        aria-label={`${model.loaded ? 'Unload' : 'Load'} ${model.id}`}
        onClick={() => control.mutate(action)}
        className="min-w-24"
      >
        {control.isPending ? pendingLabel : model.loaded ? 'Unload' : 'Load'}
      </Button>
      {control.isError && (
        <p role="alert" className="max-w-64 text-xs text-red-600 sm:text-right dark:text-red-400">
          {adminErrorMessage(control.error)}
        </p>
      )}
    </div>
  );
}

function StateBadge({ model }: { model: Model }) {
  if (model.loaded) return <Badge tone="success">Loaded</Badge>;
  if (model.installed) return <Badge tone="neutral">Installed</Badge>;
  return <Badge tone="warning">Not installed</Badge>;
}

function ModelRows({ models }: { models: Model[] }) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">Models in the catalog</caption>
        <thead className="hidden bg-zinc-50 text-xs text-zinc-500 sm:table-header-group dark:bg-zinc-900/60 dark:text-zinc-400">
          <tr>
            <th scope="col" className="px-4 py-2.5 font-medium">Model</th>
            <th scope="col" className="hidden px-4 py-2.5 font-medium md:table-cell">Runtime</th>
            <th scope="col" className="px-4 py-2.5 font-medium">Memory</th>
            <th scope="col" className="hidden px-4 py-2.5 font-medium lg:table-cell">On disk</th>
            <th scope="col" className="px-4 py-2.5 font-medium">State</th>
            <th scope="col" className="px-4 py-2.5">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-200 dark:divide-zinc-800">
          {models.map((m) => (
            <tr key={m.id} className="grid grid-cols-[1fr_auto] gap-x-3 gap-y-1.5 p-4 sm:table-row sm:p-0">
              <td className="min-w-0 sm:px-4 sm:py-3">
                <span className="block truncate font-mono text-[13px] font-medium text-zinc-900 dark:text-zinc-50">{m.id}</span>
                <span className="block text-xs text-zinc-500 dark:text-zinc-400">
                  {m.task} · v{m.version}
                  {m.licence ? ` · ${m.licence}` : ''}
                </span>
                {m.description && <span className="mt-0.5 line-clamp-2 block max-w-md text-xs text-zinc-500 dark:text-zinc-400">{m.description}</span>}
              </td>
              <td className="col-start-1 text-xs text-zinc-600 sm:hidden md:table-cell md:px-4 md:py-3 md:text-sm dark:text-zinc-400">
                <span className="md:hidden">Runtime </span>
                {m.runtime}
              </td>
              <td className="col-start-1 text-xs tabular-nums text-zinc-600 sm:px-4 sm:py-3 sm:text-sm dark:text-zinc-400">
                <span className="sm:hidden">Memory </span>
                {m.memory_mb != null ? formatMb(m.memory_mb) : '—'}
              </td>
              <td className="hidden tabular-nums text-zinc-600 lg:table-cell lg:px-4 lg:py-3 dark:text-zinc-400">{m.bytes != null ? formatBytes(m.bytes) : '—'}</td>
              <td className="col-start-2 row-start-1 self-start sm:px-4 sm:py-3">
                <StateBadge model={m} />
              </td>
              <td className="col-span-2 col-start-1 mt-1 sm:mt-0 sm:px-4 sm:py-3">
                <ModelAction model={m} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Summary({ list }: { list: ModelList }) {
  const installed = list.models.filter((m) => m.installed).length;
  const loaded = list.models.filter((m) => m.loaded).length;
  const stat = 'rounded-xl border border-zinc-200 bg-white p-4 dark:border-zinc-800 dark:bg-zinc-900/60';
  return (
    <section aria-labelledby="models-summary" className="mb-6 grid gap-4 sm:grid-cols-3">
      <h2 id="models-summary" className="sr-only">
        Summary
      </h2>
      {list.memory_budget_mb != null ? (
        <Meter
          label="Model memory"
          used={list.loaded_mb ?? 0}
          limit={list.memory_budget_mb}
          format={formatMb}
          note="Idle models are unloaded to make room."
          className="sm:col-span-1"
        />
      ) : (
        <Meter label="Model memory" used={list.loaded_mb ?? 0} format={formatMb} note="No budget configured." />
      )}
      <section className={stat} aria-label="Installed models">
        <h3 className="text-sm font-medium text-zinc-600 dark:text-zinc-400">Installed</h3>
        <p className="mt-2 text-2xl font-semibold tabular-nums text-zinc-900 dark:text-zinc-50">
          {installed} <span className="text-sm font-normal text-zinc-500 dark:text-zinc-400">of {list.models.length} in the catalog</span>
        </p>
      </section>
      <section className={stat} aria-label="Loaded models">
        <h3 className="text-sm font-medium text-zinc-600 dark:text-zinc-400">Loaded now</h3>
        <p className="mt-2 text-2xl font-semibold tabular-nums text-zinc-900 dark:text-zinc-50">{loaded}</p>
        <p className={cx('mt-1 text-xs', list.processing ? 'text-zinc-500 dark:text-zinc-400' : 'text-amber-700 dark:text-amber-400')}>
          {list.processing ? 'This node runs processing jobs.' : 'This node does not run processing jobs.'}
        </p>
      </section>
    </section>
  );
}

/** `/admin/models`: the catalog, what is installed and loaded, memory against the budget. */
export default function ModelsPage() {
  const models = useModels();
  return (
    <>
      <AdminNav />
      <PageHeader title="Models" description="The model catalog: what is installed, what this node has in memory, and its budget." />
      {models.isPending ? (
        <div role="status" aria-busy="true">
          <span className="sr-only">Loading models…</span>
          <div className="mb-6 grid gap-4 sm:grid-cols-3">
            {Array.from({ length: 3 }, (_, i) => (
              <Skeleton key={i} className="h-[138px] rounded-xl" />
            ))}
          </div>
          <Skeleton className="h-72 rounded-xl" />
        </div>
      ) : models.isError ? (
        <ErrorPanel error={models.error} retry={() => void models.refetch()} title="Could not load the models" />
      ) : (
        <>
          <Summary list={models.data} />
          {models.data.models.length === 0 ? (
            <EmptyState icon={<CpuIcon />} title="The catalog is empty" description="No models are configured on this server." />
          ) : (
            <ModelRows models={models.data.models} />
          )}
        </>
      )}
    </>
  );
}
