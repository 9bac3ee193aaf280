import { ErrorPanel } from '../../ui/ErrorBoundary';
import { SkeletonText } from '../../ui/Skeleton';
import { TEXT_PREVIEW_BYTES, useItemText, type Item } from './useContentItem';

/** Paragraphs are separated by blank lines; single line breaks inside one are kept. */
function paragraphs(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)
    .map((p) => p.replace(/^\n+|\n+$/g, ''))
    .filter((p) => p.trim() !== '');
}

/** A text item (a note or an uploaded text), set for reading. */
export function TextViewer({ item }: { item: Item }) {
  const text = useItemText(item);
  return (
    <article
      aria-label="Text"
      className="rounded-2xl border border-zinc-200 bg-white px-5 py-6 sm:px-10 sm:py-10 dark:border-zinc-800 dark:bg-zinc-900/60"
    >
      {text.isPending ? (
        <div role="status" aria-label="Loading the text" className="mx-auto max-w-prose">
          <SkeletonText lines={8} />
        </div>
      ) : text.isError ? (
        <ErrorPanel title="The text could not be loaded" error={text.error} retry={() => void text.refetch()} />
      ) : (
        <div className="mx-auto max-w-prose text-[15px] leading-7 text-zinc-800 sm:text-base sm:leading-8 dark:text-zinc-200">
          {paragraphs(text.data).map((p, i) => (
            <p key={i} className="mb-5 whitespace-pre-wrap break-words [hyphens:auto] last:mb-0">
              {p}
            </p>
          ))}
          {paragraphs(text.data).length === 0 && <p className="text-zinc-500">This text is empty.</p>}
          {item.size > TEXT_PREVIEW_BYTES && (
            <p className="mt-6 border-t border-zinc-200 pt-4 text-sm text-zinc-500 dark:border-zinc-800 dark:text-zinc-400">
              This is the beginning of a long text. Download it to read the rest.
            </p>
          )}
        </div>
      )}
    </article>
  );
}
