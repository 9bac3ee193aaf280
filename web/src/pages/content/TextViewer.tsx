import { useEffect, useMemo, useRef } from 'react';

import { ErrorPanel } from '../../ui/ErrorBoundary';
import { SkeletonText } from '../../ui/Skeleton';
import { byteRangeToIndices, type ByteRange } from './place';
import { TEXT_PREVIEW_BYTES, useItemText, type Item } from './useContentItem';

export interface Paragraph {
  /** As shown: line breaks made `\n`. */
  text: string;
  /** Where it is in the text, as string indices `[start, end)`. */
  start: number;
  end: number;
}

// A line break: CRLF, CR or LF (a CRLF never counts as two).
const BREAK = '(?:\\r\\n|\\r(?!\\n)|\\n)';
const SEPARATOR = new RegExp(`${BREAK}{2,}`, 'g');
const LEADING = new RegExp(`^${BREAK}+`);
const TRAILING = new RegExp(`${BREAK}+$`);

/**
 * Paragraphs are separated by blank lines; single line breaks inside one are kept. Each keeps
 * where it is in the text, so that a search hit's range can find it.
 */
export function paragraphs(text: string): Paragraph[] {
  const out: Paragraph[] = [];
  const add = (from: number, to: number) => {
    const raw = text.slice(from, to);
    const start = from + (LEADING.exec(raw)?.[0].length ?? 0);
    const end = Math.max(start, to - (TRAILING.exec(raw)?.[0].length ?? 0));
    const body = text.slice(start, end);
    if (body.trim() !== '') out.push({ text: body.replace(/\r\n?/g, '\n'), start, end });
  };
  let from = 0;
  for (const m of text.matchAll(SEPARATOR)) {
    add(from, m.index);
    from = m.index + m[0].length;
  }
  add(from, text.length);
  return out;
}

/** Whether paragraph `p` holds part of `[start, end)` (a point when the range is empty). */
function overlaps(p: Paragraph, start: number, end: number): boolean {
  return end > start ? p.start < end && start < p.end : p.start <= start && start < p.end;
}

/**
 * A text item (a note or an uploaded text), set for reading. `highlight` (a search hit's `?para=`,
 * UTF-8 byte offsets of the text) marks the paragraphs it covers and scrolls the first into view.
 */
export function TextViewer({ item, highlight }: { item: Item; highlight?: ByteRange | undefined }) {
  const text = useItemText(item);
  const shown = useMemo(() => {
    if (text.data === undefined) return [];
    const all = paragraphs(text.data);
    if (!highlight) return all.map((p) => ({ ...p, found: false }));
    const range = byteRangeToIndices(text.data, highlight);
    return all.map((p) => ({ ...p, found: overlaps(p, range.start, range.end) }));
  }, [text.data, highlight]);
  const body = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const first = body.current?.querySelector<HTMLElement>('[data-found]');
    const reduce = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
    first?.scrollIntoView?.({ block: 'center', behavior: reduce ? 'auto' : 'smooth' });
  }, [shown]);
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
        <div ref={body} className="mx-auto max-w-prose text-[15px] leading-7 text-zinc-800 sm:text-base sm:leading-8 dark:text-zinc-200">
          {shown.map((p) =>
            p.found ? (
              <p key={p.start} data-found="" className="mb-5 whitespace-pre-wrap break-words [hyphens:auto] last:mb-0">
                <mark className="-mx-1 rounded bg-amber-100 px-1 py-0.5 text-inherit [box-decoration-break:clone] dark:bg-amber-400/20">
                  {p.text}
                </mark>
              </p>
            ) : (
              <p key={p.start} className="mb-5 whitespace-pre-wrap break-words [hyphens:auto] last:mb-0">
                {p.text}
              </p>
            ),
          )}
          {shown.length === 0 && <p className="text-zinc-500">This text is empty.</p>}
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
