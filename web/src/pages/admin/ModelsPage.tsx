import { EmptyState } from '../../ui/EmptyState';
import { CpuIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/admin/models`: The model catalog: what is installed and loaded. */
export default function ModelsPage() {
  return (
    <>
      <PageHeader title="Models" description="The model catalog: what is installed and loaded." />
      <EmptyState icon={<CpuIcon />} title="No models to show" description="Installed models will be listed here." />
    </>
  );
}
