/**
 * Live processing progress per item, from the socket's job events (no polling). A job's events
 * name the job, not the item: `job.requested` says which item it is for; for jobs that started
 * before this page was opened, the item's `GET /api/content/{id}/jobs` says it (asked once, only
 * when an unknown job reports progress).
 */
import { api, call } from '../../api/client';
import { streamId, type LiveEvent } from '../../live/protocol';
import type { Item, Modality } from './types';

export type JobPhase = 'queued' | 'running' | 'retrying' | 'finishing' | 'failed';

export interface Progress {
  phase: JobPhase;
  /** The server's stage name, e.g. `transcribing`. */
  stage: string | null;
  /** 0–100, never going back within an attempt. */
  percent: number;
  /** The stages this attempt went through, in order. */
  done: string[];
  /** A failure's stable code. */
  code?: string | undefined;
}

/** Each modality's steps, in the order its pipeline reports them. */
export const STEPS: Record<Modality, string[]> = {
  text: ['fetching', 'embedding', 'summarising'],
  image: ['fetching', 'classifying', 'reading text', 'describing', 'embedding'],
  audio: ['fetching', 'finding speech', 'transcribing', 'summarising', 'embedding'],
  video: ['fetching', 'extracting keyframes', 'analysing keyframes', 'extracting audio', 'finding speech', 'transcribing', 'summarising', 'embedding'],
};

/** What a step is called while it runs, and once it is done. */
const STEP_WORDS: Record<string, [running: string, done: string]> = {
  fetching: ['Opening the file', 'Opened'],
  classifying: ['Classifying', 'Classified'],
  'reading text': ['Reading text', 'Text read'],
  describing: ['Describing', 'Described'],
  embedding: ['Indexing for search', 'Embedded'],
  summarising: ['Summarising', 'Summarised'],
  'finding speech': ['Finding speech', 'Speech found'],
  transcribing: ['Transcribing', 'Transcribed'],
  'extracting keyframes': ['Extracting keyframes', 'Keyframes extracted'],
  'analysing keyframes': ['Analysing keyframes', 'Keyframes analysed'],
  'extracting audio': ['Extracting audio', 'Audio extracted'],
};

export function stepRunning(stage: string): string {
  return STEP_WORDS[stage]?.[0] ?? stage.charAt(0).toUpperCase() + stage.slice(1);
}

export function stepDone(stage: string): string {
  return STEP_WORDS[stage]?.[1] ?? stage.charAt(0).toUpperCase() + stage.slice(1);
}

type Listener = () => void;

export class ProcessingTracker {
  private readonly jobToItem = new Map<string, string>();
  private readonly progress = new Map<string, Progress>();
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Items whose jobs were already asked for. */
  private readonly looked = new Set<string>();
  /** Progress of jobs whose item is not known yet, replayed once it is. */
  private readonly orphans = new Map<string, LiveEvent[]>();
  private lookup: ReturnType<typeof setTimeout> | undefined;

  /** The items still processing, newest first (where an unknown job may belong). */
  private pendingItems: () => Item[] = () => [];

  setPending(list: () => Item[]): void {
    this.pendingItems = list;
  }

  get(contentId: string): Progress | undefined {
    return this.progress.get(contentId);
  }

  subscribe(contentId: string, l: Listener): () => void {
    let set = this.listeners.get(contentId);
    if (!set) this.listeners.set(contentId, (set = new Set()));
    set.add(l);
    return () => {
      set.delete(l);
      if (set.size === 0) this.listeners.delete(contentId);
    };
  }

  private set(contentId: string, p: Progress): void {
    this.progress.set(contentId, p);
    this.listeners.get(contentId)?.forEach((l) => l());
  }

  /** Handles one `job.*` event. */
  handle(e: LiveEvent): void {
    const jobId = streamId(e.stream);
    const p = e.payload;
    if (e.event_type === 'job.requested') {
      const contentId = typeof p.content_id === 'string' ? p.content_id : null;
      if (!contentId) return;
      this.jobToItem.set(jobId, contentId);
      this.set(contentId, { phase: 'queued', stage: null, percent: 0, done: [] });
      const waiting = this.orphans.get(jobId);
      this.orphans.delete(jobId);
      waiting?.forEach((w) => this.handle(w));
      return;
    }
    const contentId = this.jobToItem.get(jobId);
    if (!contentId) {
      const list = this.orphans.get(jobId) ?? [];
      if (list.length < 50) list.push(e);
      this.orphans.set(jobId, list);
      this.scheduleLookup();
      return;
    }
    const before = this.progress.get(contentId) ?? { phase: 'queued', stage: null, percent: 0, done: [] };
    switch (e.event_type) {
      case 'job.started':
        this.set(contentId, { phase: 'running', stage: null, percent: 0, done: [] });
        break;
      case 'job.progress': {
        const stage = typeof p.stage === 'string' ? p.stage : null;
        const percent = Math.max(0, Math.min(100, Number(p.percent) || 0));
        const done = [...before.done];
        if (before.stage && before.stage !== stage && !done.includes(before.stage)) done.push(before.stage);
        this.set(contentId, { phase: 'running', stage, percent: Math.max(before.phase === 'running' ? before.percent : 0, percent), done });
        break;
      }
      case 'job.succeeded':
        this.set(contentId, { ...before, phase: 'finishing', percent: 100, done: before.stage && !before.done.includes(before.stage) ? [...before.done, before.stage] : before.done });
        break;
      case 'job.failed':
        this.set(contentId, { ...before, phase: p.retry_at ? 'retrying' : 'failed', code: typeof p.code === 'string' ? p.code : undefined });
        break;
      case 'job.dead_lettered':
        this.set(contentId, { ...before, phase: 'failed', code: typeof p.code === 'string' ? p.code : undefined });
        break;
    }
  }

  /** Learns which item an unknown job belongs to, by asking the pending items' jobs (a few, once each). */
  private scheduleLookup(): void {
    if (this.lookup !== undefined) return;
    this.lookup = setTimeout(() => {
      this.lookup = undefined;
      void this.resolve();
    }, 300);
  }

  private async resolve(): Promise<void> {
    const candidates = this.pendingItems()
      .filter((i) => !this.looked.has(i.id))
      .slice(0, 10);
    for (const item of candidates) {
      if (this.orphans.size === 0) return;
      this.looked.add(item.id);
      try {
        const { jobs } = await call(api.GET('/api/content/{id}/jobs', { params: { path: { id: item.id } } }));
        for (const job of jobs) {
          this.jobToItem.set(job.id, item.id);
          if (job.status === 'running' && job.stage) {
            this.set(item.id, { phase: 'running', stage: job.stage, percent: job.percent, done: [] });
          }
          const waiting = this.orphans.get(job.id);
          this.orphans.delete(job.id);
          waiting?.forEach((w) => this.handle(w));
        }
      } catch {
        // The item may be gone; its card shows the state from the list.
      }
    }
  }

  dispose(): void {
    clearTimeout(this.lookup);
  }
}
