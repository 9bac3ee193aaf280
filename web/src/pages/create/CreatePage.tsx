import { EmptyState } from '../../ui/EmptyState';
import { SparklesIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/create`: Generate images, speech and text from your library. */
export default function CreatePage() {
  return (
    <>
      <PageHeader title="Create" description="Generate images, speech and text from your library." />
      <EmptyState icon={<SparklesIcon />} title="Nothing created yet" description="What you create appears here." />
    </>
  );
}
