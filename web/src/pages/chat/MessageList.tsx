import { useEffect, useLayoutEffect, useRef, useState } from 'react';

import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { AlertIcon } from '../../ui/icons';
import { describeAnswerFailure } from './apiErrors';
import { SentAttachments } from './Attachments';
import { ArrowDownIcon } from './icons';
import { Markdown } from './Markdown';
import { AnswerSources } from './Sources';
import type { Message } from './thread';

function Typing() {
  return (
    <span className="inline-flex items-center gap-1 py-2" aria-label="Writing">
      {[0, 150, 300].map((d) => (
        <span key={d} className="size-1.5 animate-bounce rounded-full bg-zinc-400" style={{ animationDelay: `${d}ms` }} />
      ))}
    </span>
  );
}

/** Model, tokens and speed of a finished answer, quietly. */
function AnswerFacts({ m }: { m: Message }) {
  const timings = (m.timings ?? {}) as { total_ms?: number; decode_tokens_per_s?: number };
  // An answer read from the findings ran no model and counted no tokens.
  const fromFindings = m.model === 'findings';
  const parts = [
    fromFindings ? 'quoted from the findings, no language model' : m.model,
    !fromFindings && m.tokens_in != null && m.tokens_out != null ? `${m.tokens_in.toLocaleString()} in · ${m.tokens_out.toLocaleString()} out tokens` : null,
    typeof timings.total_ms === 'number' ? `${(timings.total_ms / 1000).toFixed(1)} s` : null,
    m.finish_reason === 'length' ? 'cut off at the length limit' : null,
    m.finish_reason === 'loop' ? 'cut where the model began repeating itself' : null,
  ].filter(Boolean);
  if (parts.length === 0) return null;
  return <p className="mt-2 text-xs text-zinc-500 dark:text-zinc-400">{parts.join(' · ')}</p>;
}

function Assistant({ m }: { m: Message }) {
  const streaming = m.status === 'streaming';
  return (
    <article aria-label="Answer" className="flex gap-3">
      <span aria-hidden="true" className="mt-0.5 flex size-7 shrink-0 items-center justify-center rounded-full bg-brand-600 text-xs font-semibold text-white">
        T
      </span>
      <div className="min-w-0 flex-1">
        {m.text ? <Markdown text={m.text} /> : streaming ? <Typing /> : null}
        {m.status === 'cancelled' && (
          <p className="mt-2 inline-flex items-center gap-1.5 rounded-md bg-zinc-100 px-2 py-1 text-xs font-medium text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">
            Stopped{m.text ? '' : ' before anything was written'}
          </p>
        )}
        {m.status === 'failed' && (
          <p className="mt-2 flex items-start gap-2 rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-700 dark:border-red-900/60 dark:bg-red-950/40 dark:text-red-300">
            <AlertIcon className="mt-0.5 size-4 shrink-0" />
            <span>
              <span className="font-medium">The answer failed.</span> {describeAnswerFailure(m.error_code, m.error)}
            </span>
          </p>
        )}
        {m.status === 'completed' && <AnswerSources context={m.context} />}
        {m.status === 'completed' && <AnswerFacts m={m} />}
      </div>
    </article>
  );
}

function User({ m }: { m: Message }) {
  return (
    <article aria-label="Your message" className="flex flex-col items-end gap-2">
      <SentAttachments ids={m.attachments} />
      {m.text && (
        <div className="max-w-[85%] rounded-2xl rounded-br-md bg-zinc-100 px-4 py-2.5 text-[0.9375rem] leading-7 whitespace-pre-wrap text-zinc-900 dark:bg-zinc-800 dark:text-zinc-100">
          {m.text}
        </div>
      )}
    </article>
  );
}

/**
 * The conversation as a `log`. It follows new text while the reader is at the bottom and stays
 * put when they scroll up. Screen readers hear an answer once it is complete (`aria-busy`
 * while it streams), not every piece.
 */
export function MessageList({ items, streaming, className }: { items: Message[]; streaming: boolean; className?: string }) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const [away, setAway] = useState(false);
  const last = items.at(-1);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [items.length, last?.text, last?.status]);

  // The panel changes size (an error above the composer, a rotated phone): stay at the bottom.
  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  return (
    <div className={cx('relative min-h-0', className)}>
      <div
        ref={scroller}
        className="h-full overflow-y-auto overscroll-contain"
        onScroll={(e) => {
          const el = e.currentTarget;
          const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
          atBottom.current = bottom;
          setAway(!bottom);
        }}
      >
        <div role="log" aria-label="Messages" aria-busy={streaming} className="mx-auto flex max-w-3xl flex-col gap-6 px-4 py-6 sm:px-6">
          {items.map((m) => (m.role === 'user' ? <User key={m.id} m={m} /> : <Assistant key={m.id} m={m} />))}
        </div>
      </div>
      {away && (
        <Button
          size="sm"
          className="absolute bottom-3 left-1/2 -translate-x-1/2 rounded-full shadow-md"
          icon={<ArrowDownIcon />}
          onClick={() => {
            const el = scroller.current;
            if (el) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
          }}
        >
          Latest
        </Button>
      )}
    </div>
  );
}

/** Tells screen readers when an answer starts and how it ended (not old answers on load). */
export function AnswerAnnouncer({ last }: { last: Message | undefined }) {
  const [seen] = useState(() => new Set<string>(last?.role === 'assistant' && last.status !== 'streaming' ? [last.id] : []));
  const words =
    last?.role !== 'assistant' || seen.has(last.id)
      ? ''
      : last.status === 'streaming'
        ? 'Writing an answer…'
        : last.status === 'completed'
          ? 'Answer complete.'
          : last.status === 'cancelled'
            ? 'Answer stopped.'
            : last.status === 'failed'
              ? `Answer failed: ${describeAnswerFailure(last.error_code, last.error)}`
              : '';
  return (
    <p className="sr-only" role="status">
      {words}
    </p>
  );
}
