import { EmptyState } from '../../ui/EmptyState';
import { ChartIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/usage`: Storage, uploads and processing against your limits. */
export default function UsagePage() {
  return (
    <>
      <PageHeader title="Usage" description="Storage, uploads and processing against your limits." />
      <EmptyState icon={<ChartIcon />} title="No usage yet" description="Your storage, uploads and processing time will show here." />
    </>
  );
}
