import { EmptyState } from '../../ui/EmptyState';
import { UsersIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/admin/users`: Accounts on this server, their roles and quotas. */
export default function UsersPage() {
  return (
    <>
      <PageHeader title="Users" description="Accounts on this server, their roles and quotas." />
      <EmptyState icon={<UsersIcon />} title="No users to show" description="Accounts will be listed here." />
    </>
  );
}
