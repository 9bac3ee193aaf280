import { EmptyState } from '../../ui/EmptyState';
import { LayersIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/admin/projections`: Read models: position, lag and rebuilds. */
export default function ProjectionsPage() {
  return (
    <>
      <PageHeader title="Projections" description="Read models: position, lag and rebuilds." />
      <EmptyState icon={<LayersIcon />} title="No projections to show" description="Read models and their lag will be listed here." />
    </>
  );
}
