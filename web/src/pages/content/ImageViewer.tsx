import { useRef, useState } from 'react';

import { cx } from '../../ui/cx';
import { Skeleton } from '../../ui/Skeleton';
import type { Label, OcrLine } from './analysis';
import { Muted, Panel } from './Panel';
import type { Box } from './place';

/** A box's placement over the image, in percent of the image (so it follows the displayed size). */
function boxStyle(line: OcrLine, width: number, height: number): React.CSSProperties {
  const [tl, tr, , bl] = line.box;
  const across = Math.hypot(tr[0] - tl[0], tr[1] - tl[1]);
  const down = Math.hypot(bl[0] - tl[0], bl[1] - tl[1]);
  const angle = Math.atan2(tr[1] - tl[1], tr[0] - tl[0]);
  // The frame keeps the image's aspect ratio, so one image pixel is as wide as it is tall on
  // screen and a rotation about the top-left corner lands where the model saw the text.
  return {
    left: `${(tl[0] / width) * 100}%`,
    top: `${(tl[1] / height) * 100}%`,
    width: `${(across / width) * 100}%`,
    height: `${(down / height) * 100}%`,
    transform: angle ? `rotate(${angle}rad)` : undefined,
    transformOrigin: '0 0',
  };
}

/** A search hit's box over the image, in percent of the image (it follows the displayed size). */
function highlightStyle(box: Box, width: number, height: number): React.CSSProperties {
  return {
    left: `${(box.x / width) * 100}%`,
    top: `${(box.y / height) * 100}%`,
    width: `${(box.width / width) * 100}%`,
    height: `${(box.height / height) * 100}%`,
  };
}

/**
 * The picture fitted to the viewport, the text the OCR model read in it drawn as boxes over it,
 * and that text as a list beside it: pointing at (or focusing) a box highlights its line, and the
 * other way round. `highlight` (a search hit's `?box=`, in the image's pixels) is drawn over it.
 */
export function ImageViewer({
  src,
  alt,
  width,
  height,
  lines,
  pending,
  highlight,
}: {
  src: string;
  alt: string;
  width: number | undefined;
  height: number | undefined;
  lines: OcrLine[];
  pending: boolean;
  highlight?: Box | undefined;
}) {
  const [natural, setNatural] = useState<{ w: number; h: number }>();
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState(false);
  const [active, setActive] = useState<number | null>(null);
  const [showBoxes, setShowBoxes] = useState(true);
  const listRef = useRef<HTMLOListElement>(null);
  const w = width ?? natural?.w;
  const h = height ?? natural?.h;
  const ratio = w && h ? w / h : 4 / 3;

  return (
    <div className="space-y-4">
      <figure className="overflow-hidden rounded-2xl border border-zinc-200 bg-zinc-100 dark:border-zinc-800 dark:bg-zinc-900">
        <div className="flex justify-center bg-[repeating-conic-gradient(#e4e4e7_0_25%,#f4f4f5_0_50%)] bg-[length:16px_16px] dark:bg-[repeating-conic-gradient(#27272a_0_25%,#18181b_0_50%)]">
          <div className="relative" style={{ aspectRatio: String(ratio), width: `min(100%, calc(70vh * ${ratio}))` }}>
            {!loaded && !failed && <Skeleton className="absolute inset-0 rounded-none" />}
            {failed ? (
              <div role="alert" className="absolute inset-0 flex items-center justify-center p-4 text-center text-sm text-zinc-600 dark:text-zinc-400">
                The picture could not be loaded. Try downloading it instead.
              </div>
            ) : (
              <img
                src={src}
                alt={alt}
                decoding="async"
                className={cx('absolute inset-0 size-full object-contain transition-opacity', loaded ? 'opacity-100' : 'opacity-0')}
                onLoad={(e) => {
                  setNatural({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight });
                  setLoaded(true);
                }}
                onError={() => setFailed(true)}
              />
            )}
            {w && h && showBoxes && lines.length > 0 && (
              <div className="absolute inset-0" role="group" aria-label="Text found in the picture">
                {lines.map((line, i) => (
                  <button
                    key={i}
                    type="button"
                    aria-label={`Text: ${line.text}`}
                    aria-describedby={`ocr-line-${i}`}
                    style={boxStyle(line, w, h)}
                    onMouseEnter={() => setActive(i)}
                    onMouseLeave={() => setActive(null)}
                    onFocus={() => setActive(i)}
                    onBlur={() => setActive(null)}
                    onClick={() => listRef.current?.querySelector(`#ocr-line-${i}`)?.scrollIntoView?.({ block: 'nearest' })}
                    className={cx(
                      'absolute rounded-[2px] border-2 transition-colors focus-visible:outline-offset-1',
                      active === i ? 'border-brand-500 bg-brand-500/25' : 'border-amber-400/90 bg-amber-300/10 hover:bg-amber-300/25',
                    )}
                  />
                ))}
              </div>
            )}
            {w && h && highlight && !failed && (
              <div
                role="img"
                aria-label="Where the search found it"
                style={highlightStyle(highlight, w, h)}
                className="pointer-events-none absolute rounded-sm border-[3px] border-brand-500 bg-brand-500/15 ring-2 ring-white/80 dark:ring-black/60"
              />
            )}
          </div>
        </div>
        {lines.length > 0 && (
          <figcaption className="flex items-center justify-between gap-2 border-t border-zinc-200 bg-white px-3 py-2 text-xs text-zinc-600 dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-400">
            <span>
              {lines.length} line{lines.length === 1 ? '' : 's'} of text found
            </span>
            <label className="inline-flex cursor-pointer items-center gap-2">
              <input type="checkbox" className="size-4 accent-brand-600" checked={showBoxes} onChange={(e) => setShowBoxes(e.target.checked)} />
              Show text boxes
            </label>
          </figcaption>
        )}
      </figure>
      <Panel title="Text in the picture">
        {pending ? (
          <div role="status" aria-label="Reading the text in the picture">
            <Skeleton className="h-4 w-2/3" />
            <Skeleton className="mt-2 h-4 w-1/2" />
          </div>
        ) : lines.length === 0 ? (
          <Muted>No text was found in this picture.</Muted>
        ) : (
          <ol ref={listRef} className="max-h-72 space-y-1 overflow-y-auto">
            {lines.map((line, i) => (
              <li
                key={i}
                id={`ocr-line-${i}`}
                tabIndex={0}
                onMouseEnter={() => setActive(i)}
                onMouseLeave={() => setActive(null)}
                onFocus={() => setActive(i)}
                onBlur={() => setActive(null)}
                data-active={active === i || undefined}
                className={cx(
                  'flex items-baseline justify-between gap-3 rounded-lg px-2 py-1.5 text-sm transition-colors',
                  active === i ? 'bg-brand-50 text-brand-700 dark:bg-brand-500/15 dark:text-brand-100' : 'text-zinc-800 dark:text-zinc-200',
                )}
              >
                <span className="min-w-0 break-words">{line.text}</span>
                <span className="shrink-0 text-xs text-zinc-500 tabular-nums dark:text-zinc-400" title="How sure the model is">
                  {Math.round(line.score * 100)}%
                </span>
              </li>
            ))}
          </ol>
        )}
      </Panel>
    </div>
  );
}

/** The classifier's labels, most likely first, each with its confidence. */
export function LabelsPanel({ labels, pending }: { labels: Label[]; pending: boolean }) {
  return (
    <Panel title="Labels">
      {pending ? (
        <div role="status" aria-label="Labelling the picture" className="space-y-3">
          {[0, 1, 2].map((i) => (
            <Skeleton key={i} className="h-6 w-full" />
          ))}
        </div>
      ) : labels.length === 0 ? (
        <Muted>No labels.</Muted>
      ) : (
        <ul className="space-y-2.5">
          {labels.map((l) => {
            const pct = Math.round(l.score * 100);
            return (
              <li key={l.name}>
                <div className="flex items-baseline justify-between gap-3 text-sm">
                  <span className="min-w-0 truncate text-zinc-800 dark:text-zinc-200" title={l.name}>
                    {l.name}
                  </span>
                  <span className="shrink-0 text-xs text-zinc-500 tabular-nums dark:text-zinc-400">
                    <span className="sr-only">confidence </span>
                    {pct}%
                  </span>
                </div>
                <div aria-hidden="true" className="mt-1 h-1.5 overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800">
                  <div className="h-full rounded-full bg-brand-500" style={{ width: `${Math.max(2, pct)}%` }} />
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </Panel>
  );
}
