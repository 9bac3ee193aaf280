import { useEffect, useRef, useState } from 'react';

import { cx } from '../../ui/cx';
import { Skeleton } from '../../ui/Skeleton';
import { formatClock, segmentAt, type Keyframe, type Segment } from './analysis';
import { Muted, Panel } from './Panel';

/** After the reader scrolls the transcript themselves, following playback waits this long. */
const MANUAL_SCROLL_GRACE_MS = 4_000;

export interface MediaViewerProps {
  kind: 'audio' | 'video';
  src: string;
  title: string;
  poster?: string | undefined;
  width?: number | undefined;
  height?: number | undefined;
  /** Seconds, when the probe knew it (for the waveform before metadata loads). */
  duration?: number | undefined;
  waveform?: number[] | undefined;
  segments: Segment[];
  keyframes: Keyframe[];
  /** The analysis is still running (skeletons instead of "nothing found"). */
  pending: boolean;
  /** Why there is no transcript, when the analysis found none (a video without sound). */
  noTranscriptReason?: string | undefined;
  /** Seconds to start at (a search hit's `?t=`): the player seeks there once it is loaded. */
  start?: number | undefined;
}

/**
 * A native player with its transcript beside it (below on phones): each line says when it is
 * spoken and, pressed, plays from there; the line being spoken is marked and kept in view.
 * Videos also get a strip of keyframes that seek to their moment.
 */
export function MediaViewer(props: MediaViewerProps) {
  const { kind, src, title, poster, width, height, segments, keyframes, pending, start } = props;
  const media = useRef<HTMLMediaElement | null>(null);
  // Where to start, until the player knows enough to seek (its metadata).
  const wanted = useRef(start);
  useEffect(() => {
    wanted.current = start;
    const m = media.current;
    if (start === undefined || !m || m.readyState < HTMLMediaElement.HAVE_METADATA) return;
    // Already loaded (another hit in the same item): seek now; `seeked` moves the transcript.
    m.currentTime = start;
    wanted.current = undefined;
  }, [start]);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState<number | undefined>(props.duration);
  const [failed, setFailed] = useState(false);
  const current = segmentAt(segments, time);
  const currentFrame = segmentAt(
    keyframes.map((k) => ({ start: k.time, end: k.time, text: '' })),
    time,
  );

  const seek = (seconds: number) => {
    const m = media.current;
    if (!m) return;
    m.currentTime = seconds;
    setTime(seconds);
    // Browsers may refuse to play without a gesture; the seek has happened either way.
    void m.play()?.catch(() => undefined);
  };

  const mediaEvents = {
    onTimeUpdate: (e: React.SyntheticEvent<HTMLMediaElement>) => setTime(e.currentTarget.currentTime),
    onSeeked: (e: React.SyntheticEvent<HTMLMediaElement>) => setTime(e.currentTarget.currentTime),
    onLoadedMetadata: (e: React.SyntheticEvent<HTMLMediaElement>) => {
      if (Number.isFinite(e.currentTarget.duration)) setDuration(e.currentTarget.duration);
      if (wanted.current !== undefined) {
        e.currentTarget.currentTime = wanted.current;
        setTime(wanted.current);
        wanted.current = undefined;
      }
    },
    onError: () => setFailed(true),
  };

  const ratio = width && height ? `${width} / ${height}` : '16 / 9';

  return (
    <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem] lg:items-start">
      <div className="min-w-0 space-y-3">
        {kind === 'video' ? (
          <div className="overflow-hidden rounded-2xl border border-zinc-200 bg-black dark:border-zinc-800" style={{ aspectRatio: ratio }}>
            <video
              ref={(el) => {
                media.current = el;
              }}
              src={src}
              poster={poster}
              controls
              playsInline
              preload="metadata"
              aria-label={title}
              className="size-full"
              {...mediaEvents}
            />
          </div>
        ) : (
          <div className="rounded-2xl border border-zinc-200 bg-white p-4 dark:border-zinc-800 dark:bg-zinc-900/60">
            {props.waveform && props.waveform.length > 0 && (
              <Waveform peaks={props.waveform} progress={duration ? time / duration : 0} />
            )}
            <audio
              ref={(el) => {
                media.current = el;
              }}
              src={src}
              controls
              preload="metadata"
              aria-label={title}
              className="mt-3 w-full"
              {...mediaEvents}
            />
          </div>
        )}
        {failed && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-300">
            This {kind} could not be played here. Download it to play it on your device.
          </p>
        )}
        {kind === 'video' && (keyframes.length > 0 || pending) && (
          <KeyframeStrip keyframes={keyframes} current={currentFrame} onSeek={seek} pending={pending} />
        )}
      </div>
      <Transcript segments={segments} current={current} onSeek={seek} pending={pending} emptyReason={props.noTranscriptReason} />
    </div>
  );
}

function Transcript({
  segments,
  current,
  onSeek,
  pending,
  emptyReason,
}: {
  segments: Segment[];
  current: number;
  onSeek: (seconds: number) => void;
  pending: boolean;
  emptyReason?: string | undefined;
}) {
  const list = useRef<HTMLOListElement>(null);
  const manualUntil = useRef(0);
  const programmatic = useRef(false);

  // Keep the spoken line in view by scrolling the list itself: never the page, never the focus.
  useEffect(() => {
    const box = list.current;
    if (!box || current < 0 || Date.now() < manualUntil.current) return;
    const line = box.querySelectorAll<HTMLElement>('[data-segment]')[current];
    if (!line) return;
    const top = line.offsetTop - box.offsetTop;
    const visible = top >= box.scrollTop && top + line.offsetHeight <= box.scrollTop + box.clientHeight;
    if (visible || typeof box.scrollTo !== 'function') return;
    programmatic.current = true;
    const reduce = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
    box.scrollTo({ top: Math.max(0, top - box.clientHeight / 3), behavior: reduce ? 'auto' : 'smooth' });
  }, [current]);

  return (
    <Panel title="Transcript" bodyClassName="p-0">
      {pending && segments.length === 0 ? (
        <div role="status" aria-label="Transcribing" className="space-y-3 p-4">
          {[0, 1, 2, 3].map((i) => (
            <div key={i} className="flex gap-3">
              <Skeleton className="h-4 w-10" />
              <Skeleton className="h-4 flex-1" />
            </div>
          ))}
        </div>
      ) : segments.length === 0 ? (
        <div className="p-4">
          <Muted>{emptyReason ?? 'No speech was found.'}</Muted>
        </div>
      ) : (
        <ol
          ref={list}
          className="max-h-[22rem] overflow-y-auto p-2 lg:max-h-[26rem]"
          onScroll={() => {
            if (programmatic.current) programmatic.current = false;
            else manualUntil.current = Date.now() + MANUAL_SCROLL_GRACE_MS;
          }}
        >
          {segments.map((s, i) => {
            const on = i === current;
            return (
              <li key={`${s.start}-${i}`} data-segment="">
                <button
                  type="button"
                  onClick={() => onSeek(s.start)}
                  aria-current={on ? 'true' : undefined}
                  className={cx(
                    'group flex w-full gap-3 rounded-lg px-2 py-1.5 text-left text-sm transition-colors',
                    on
                      ? 'bg-brand-50 text-zinc-900 dark:bg-brand-500/15 dark:text-zinc-50'
                      : 'text-zinc-700 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800',
                  )}
                >
                  <span
                    className={cx(
                      'w-12 shrink-0 pt-px font-mono text-xs tabular-nums',
                      on ? 'text-brand-700 dark:text-brand-100' : 'text-zinc-500 group-hover:text-brand-600 dark:text-zinc-400',
                    )}
                  >
                    {formatClock(s.start)}
                  </span>
                  <span className="min-w-0 break-words">{s.text}</span>
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </Panel>
  );
}

function KeyframeStrip({
  keyframes,
  current,
  onSeek,
  pending,
}: {
  keyframes: Keyframe[];
  current: number;
  onSeek: (seconds: number) => void;
  pending: boolean;
}) {
  return (
    <Panel title="Keyframes" bodyClassName="p-2">
      {pending && keyframes.length === 0 ? (
        <div role="status" aria-label="Finding keyframes" className="flex gap-2 overflow-hidden">
          {[0, 1, 2, 3].map((i) => (
            <Skeleton key={i} className="aspect-video w-32 shrink-0 rounded-lg" />
          ))}
        </div>
      ) : (
        <ol className="flex gap-2 overflow-x-auto pb-1">
          {keyframes.map((k, i) => {
            const labels = k.labels.map((l) => l.name).join(', ');
            return (
              <li key={k.index} className="shrink-0">
                <button
                  type="button"
                  onClick={() => onSeek(k.time)}
                  aria-label={`Play from ${formatClock(k.time)}${labels ? `: ${labels}` : ''}`}
                  aria-current={i === current ? 'true' : undefined}
                  className={cx(
                    'block w-32 overflow-hidden rounded-lg border-2 text-left transition-colors',
                    i === current ? 'border-brand-500' : 'border-transparent hover:border-zinc-300 dark:hover:border-zinc-600',
                  )}
                >
                  <span className="block aspect-video bg-zinc-200 dark:bg-zinc-800">
                    <img src={k.url} alt="" loading="lazy" decoding="async" className="size-full object-cover" />
                  </span>
                  <span className="block px-1.5 py-1 font-mono text-xs text-zinc-600 tabular-nums dark:text-zinc-400">{formatClock(k.time)}</span>
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </Panel>
  );
}

/** The recording's loudness over time, played part tinted (decorative: the player seeks). */
function Waveform({ peaks, progress }: { peaks: number[]; progress: number }) {
  const bars = peaks.length;
  return (
    <svg viewBox={`0 0 ${bars} 100`} preserveAspectRatio="none" aria-hidden="true" className="h-16 w-full">
      {peaks.map((p, i) => {
        const h = Math.max(3, Math.min(1, p) * 100);
        return (
          <rect
            key={i}
            x={i + 0.15}
            width={0.7}
            y={(100 - h) / 2}
            height={h}
            rx={0.3}
            className={i / bars < progress ? 'fill-brand-500' : 'fill-zinc-300 dark:fill-zinc-700'}
          />
        );
      })}
    </svg>
  );
}
