import { useParams } from 'react-router';

import { EmptyState } from '../../ui/EmptyState';
import { LibraryIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/content/:id`: one item of the library, its previews and its analysis. */
export default function ContentPage() {
  const { id } = useParams<'id'>();
  return (
    <>
      <PageHeader title="Item" description={<span className="font-mono text-xs">{id}</span>} />
      <EmptyState icon={<LibraryIcon />} title="Nothing to show yet" description="This item's details will appear here." />
    </>
  );
}
