import { useCallback, useEffect, useRef, useState } from 'react';

import type { Item } from '../types';
import { uploadFile } from './uploadFile';

export type UploadStatus = 'queued' | 'uploading' | 'done' | 'failed';

export interface UploadTask {
  id: string;
  file: File;
  sent: number;
  status: UploadStatus;
  error?: unknown;
  item?: Item;
  duplicate?: boolean;
}

/** Files sent at once; the rest wait their turn. */
const PARALLEL = 3;
/** How long a finished upload stays in the list. */
const DONE_LINGER_MS = 5_000;

let counter = 0;
const newKey = () =>
  typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `up-${Date.now()}-${++counter}`;

/** A queue of uploads, each with its own progress and error. */
export function useUploads(onUploaded: (item: Item, duplicate: boolean) => void) {
  const [tasks, setTasks] = useState<UploadTask[]>([]);
  const controllers = useRef(new Map<string, AbortController>());
  const running = useRef(new Set<string>());
  const onUploadedRef = useRef(onUploaded);
  useEffect(() => {
    onUploadedRef.current = onUploaded;
  });

  const patch = useCallback((id: string, change: Partial<UploadTask>) => {
    setTasks((ts) => ts.map((t) => (t.id === id ? { ...t, ...change } : t)));
  }, []);

  const start = useCallback(
    (task: UploadTask) => {
      const ctrl = new AbortController();
      controllers.current.set(task.id, ctrl);
      running.current.add(task.id);
      patch(task.id, { status: 'uploading', sent: 0, error: undefined });
      let last = 0;
      uploadFile(task.file, {
        idempotencyKey: task.id,
        signal: ctrl.signal,
        onProgress: (sent) => {
          // A state update per progress event is too many for dozens of files: ~10 per second.
          const now = performance.now();
          if (now - last < 100 && sent < task.file.size) return;
          last = now;
          patch(task.id, { sent });
        },
      }).then(
        ({ item, duplicate }) => {
          patch(task.id, { status: 'done', sent: task.file.size, item, duplicate });
          onUploadedRef.current(item, duplicate);
          setTimeout(() => setTasks((ts) => ts.filter((t) => t.id !== task.id)), DONE_LINGER_MS);
        },
        (error: unknown) => {
          if (error instanceof DOMException && error.name === 'AbortError') {
            setTasks((ts) => ts.filter((t) => t.id !== task.id));
          } else {
            patch(task.id, { status: 'failed', error });
          }
        },
      ).finally(() => {
        running.current.delete(task.id);
        controllers.current.delete(task.id);
        setTasks((ts) => [...ts]); // let the queue move on
      });
    },
    [patch],
  );

  // Start queued files while fewer than PARALLEL run.
  useEffect(() => {
    const free = PARALLEL - running.current.size;
    if (free <= 0) return;
    tasks
      .filter((t) => t.status === 'queued' && !running.current.has(t.id))
      .slice(0, free)
      .forEach(start);
  }, [tasks, start]);

  useEffect(() => {
    const ctrls = controllers.current;
    return () => ctrls.forEach((c) => c.abort());
  }, []);

  const add = useCallback((files: Iterable<File>) => {
    const added = [...files].map<UploadTask>((file) => ({ id: newKey(), file, sent: 0, status: 'queued' }));
    if (added.length) setTasks((ts) => [...ts, ...added]);
  }, []);

  const retry = useCallback((id: string) => patch(id, { status: 'queued', sent: 0, error: undefined }), [patch]);
  const cancel = useCallback((id: string) => {
    const c = controllers.current.get(id);
    if (c) c.abort();
    else setTasks((ts) => ts.filter((t) => t.id !== id));
  }, []);
  const dismiss = useCallback((id: string) => setTasks((ts) => ts.filter((t) => t.id !== id)), []);

  return { tasks, add, retry, cancel, dismiss };
}
