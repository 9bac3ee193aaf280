import { Link } from 'react-router';

import { EmptyState } from '../ui/EmptyState';
import { SearchIcon } from '../ui/icons';
import { PageHeader } from '../ui/PageHeader';

/** Any address no route matches. */
export default function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState
        icon={<SearchIcon />}
        title="There is nothing at this address"
        description="The link may be broken, or the page may have moved."
        action={
          <Link to="/library" className="inline-flex h-10 items-center rounded-lg bg-brand-600 px-4 text-sm font-medium text-white hover:bg-brand-700">
            Go to the library
          </Link>
        }
      />
    </>
  );
}
