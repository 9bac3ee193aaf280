import { EmptyState } from '../../ui/EmptyState';
import { QueueIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/admin/jobs`: Processing jobs across all users. */
export default function JobsPage() {
  return (
    <>
      <PageHeader title="Jobs" description="Processing jobs across all users." />
      <EmptyState icon={<QueueIcon />} title="No jobs to show" description="Processing jobs will be listed here." />
    </>
  );
}
