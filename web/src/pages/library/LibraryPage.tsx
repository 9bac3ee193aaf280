import { EmptyState } from '../../ui/EmptyState';
import { LibraryIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/library`: Everything you uploaded, found by meaning. */
export default function LibraryPage() {
  return (
    <>
      <PageHeader title="Library" description="Everything you uploaded, found by meaning." />
      <EmptyState icon={<LibraryIcon />} title="Your library is empty" description="Upload text, images, audio or video and Tessera will understand them." />
    </>
  );
}
