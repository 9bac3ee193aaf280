import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';

import { Button, IconButton } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { FormError } from '../../ui/Field';
import { describeError } from './apiErrors';
import { DraftChip } from './Attachments';
import { MicIcon, PaperclipIcon, SendIcon, StopIcon, UploadIcon } from './icons';
import { LibraryPicker, type Item } from './LibraryPicker';

/** What the user sends: text, library items and files uploaded with the message. */
export interface Draft {
  text: string;
  items: Item[];
  files: File[];
}

/** At most this many attachments per message (the server's limit). */
export const MAX_ATTACHMENTS = 16;
const MAX_CHARS = 32_000;

function canRecord(): boolean {
  return typeof window !== 'undefined' && typeof window.MediaRecorder !== 'undefined' && Boolean(navigator.mediaDevices?.getUserMedia);
}

/** Records from the microphone into an audio file; `null` while idle. */
function useRecorder(onDone: (file: File) => void, onError: (message: string) => void) {
  const [recording, setRecording] = useState<{ startedAt: number } | null>(null);
  const [elapsed, setElapsed] = useState(0);
  const recorder = useRef<MediaRecorder | null>(null);
  const doneRef = useRef(onDone);
  useEffect(() => {
    doneRef.current = onDone;
  });

  useEffect(() => {
    if (!recording) return;
    const t = setInterval(() => setElapsed(Math.floor((Date.now() - recording.startedAt) / 1000)), 500);
    return () => clearInterval(t);
  }, [recording]);

  // Leaving the page stops the microphone.
  useEffect(() => () => recorder.current?.stream.getTracks().forEach((t) => t.stop()), []);

  async function start() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const r = new MediaRecorder(stream);
      const chunks: Blob[] = [];
      r.ondataavailable = (e) => e.data.size > 0 && chunks.push(e.data);
      r.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        const type = r.mimeType || 'audio/webm';
        const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
        const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-');
        if (chunks.length) doneRef.current(new File(chunks, `Recording ${stamp}.${ext}`, { type }));
      };
      recorder.current = r;
      r.start();
      setElapsed(0);
      setRecording({ startedAt: Date.now() });
    } catch (err) {
      onError(err instanceof DOMException && err.name === 'NotAllowedError' ? 'Microphone access was refused. Allow it in the browser to record.' : 'Could not start recording.');
    }
  }

  function stop() {
    recorder.current?.stop();
    recorder.current = null;
    setRecording(null);
  }

  return { recording: recording !== null, elapsed, start, stop };
}

function clock(s: number) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export interface ComposerProps {
  /** Sends; a rejection keeps the draft and shows the error. */
  onSend: (draft: Draft) => Promise<void>;
  /** An answer is being written: Stop instead of Send. */
  answering: boolean;
  onStop: () => void;
  stopping: boolean;
  disabled?: boolean;
  autoFocus?: boolean;
}

/** The message box: Enter sends, Shift+Enter adds a line; attach, upload or record. */
export function Composer({ onSend, answering, onStop, stopping, disabled, autoFocus }: ComposerProps) {
  const [text, setText] = useState('');
  const [items, setItems] = useState<Item[]>([]);
  const [files, setFiles] = useState<File[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [picker, setPicker] = useState(false);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const textarea = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const recorder = useRecorder(
    (file) => setFiles((f) => [...f, file]),
    (message) => setError(message),
  );
  const [micSupported] = useState(canRecord);

  const count = items.length + files.length;
  const empty = text.trim() === '' && count === 0;
  const tooMany = count > MAX_ATTACHMENTS;
  const tooLong = text.length > MAX_CHARS;

  // Grow with the text, up to a limit.
  useEffect(() => {
    const el = textarea.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
  }, [text]);

  async function submit(e?: FormEvent) {
    e?.preventDefault();
    if (empty || sending || answering || disabled || tooMany || tooLong || recorder.recording) return;
    setSending(true);
    setError(null);
    try {
      await onSend({ text: text.trim(), items, files });
      setText('');
      setItems([]);
      setFiles([]);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setSending(false);
      textarea.current?.focus();
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  }

  const hintId = `${id}-hint`;
  return (
    <form onSubmit={submit} className="space-y-2" aria-label="Write a message">
      <FormError>{error ?? (tooMany ? `At most ${MAX_ATTACHMENTS} attachments per message.` : tooLong ? 'The message is too long (32,000 characters at most).' : null)}</FormError>
      <div
        // Files dropped on the box, or pasted into it, go with the message.
        onDragOver={(e) => {
          if (disabled || !e.dataTransfer.types.includes('Files')) return;
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          setDragging(false);
          const dropped = Array.from(e.dataTransfer.files);
          if (disabled || dropped.length === 0) return;
          e.preventDefault();
          setFiles((f) => [...f, ...dropped]);
        }}
        className={cx(
          'rounded-2xl border border-zinc-300 bg-white shadow-sm transition-colors focus-within:border-brand-500 focus-within:ring-2 focus-within:ring-brand-500/20',
          'dark:border-zinc-700 dark:bg-zinc-900',
          dragging && 'border-brand-500 ring-2 ring-brand-500/30',
        )}
      >
        {count > 0 && (
          <ul className="flex flex-wrap gap-2 border-b border-zinc-200 p-2 dark:border-zinc-800" aria-label="Attachments to send">
            {items.map((item) => (
              <DraftChip key={item.id} item={item} onRemove={() => setItems((s) => s.filter((x) => x.id !== item.id))} />
            ))}
            {files.map((file, i) => (
              <DraftChip key={`${file.name}-${i}`} file={file} onRemove={() => setFiles((s) => s.filter((_, j) => j !== i))} />
            ))}
          </ul>
        )}
        <label htmlFor={id} className="sr-only">
          Message
        </label>
        <textarea
          id={id}
          ref={textarea}
          rows={1}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          onPaste={(e) => {
            const pasted = Array.from(e.clipboardData.files);
            if (pasted.length === 0) return;
            e.preventDefault();
            setFiles((f) => [...f, ...pasted]);
          }}
          placeholder="Ask anything about your files…"
          aria-describedby={hintId}
          autoFocus={autoFocus}
          disabled={disabled}
          className="block max-h-60 min-h-12 w-full resize-none bg-transparent px-4 pt-3 pb-1 text-[0.9375rem] leading-6 text-zinc-900 placeholder:text-zinc-400 focus:outline-none disabled:opacity-60 dark:text-zinc-100 dark:placeholder:text-zinc-500"
        />
        <div className="flex items-center gap-1 px-2 pb-2">
          <IconButton label="Attach from library…" size="sm" onClick={() => setPicker(true)} disabled={disabled}>
            <PaperclipIcon className="size-[18px]" />
          </IconButton>
          <IconButton label="Upload files" size="sm" onClick={() => fileInput.current?.click()} disabled={disabled}>
            <UploadIcon className="size-[18px]" />
          </IconButton>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            tabIndex={-1}
            onChange={(e) => {
              const chosen = Array.from(e.target.files ?? []);
              if (chosen.length) setFiles((f) => [...f, ...chosen]);
              e.target.value = '';
            }}
          />
          {micSupported &&
            (recorder.recording ? (
              <Button size="sm" variant="danger" onClick={recorder.stop} aria-label={`Finish recording (${clock(recorder.elapsed)})`}>
                <span className="size-2 animate-pulse rounded-full bg-white" aria-hidden="true" />
                <span aria-hidden="true">{clock(recorder.elapsed)}</span>
              </Button>
            ) : (
              <IconButton label="Record a voice message" size="sm" onClick={() => void recorder.start()} disabled={disabled}>
                <MicIcon className="size-[18px]" />
              </IconButton>
            ))}
          <p id={hintId} className="ml-auto hidden px-2 text-xs text-zinc-500 sm:block dark:text-zinc-400">
            Enter to send · Shift+Enter for a new line
          </p>
          {answering ? (
            <Button size="sm" variant="secondary" className="ml-auto sm:ml-0" onClick={onStop} disabled={stopping} icon={<StopIcon />}>
              {stopping ? 'Stopping…' : 'Stop'}
            </Button>
          ) : (
            <Button
              type="submit"
              size="sm"
              variant="primary"
              className="ml-auto sm:ml-0"
              loading={sending}
              disabled={empty || disabled || tooMany || tooLong || recorder.recording}
              icon={<SendIcon />}
            >
              Send
            </Button>
          )}
        </div>
      </div>
      <LibraryPicker
        open={picker}
        onClose={() => setPicker(false)}
        onAttach={(chosen) => setItems((s) => [...s, ...chosen.filter((c) => !s.some((x) => x.id === c.id))])}
      />
    </form>
  );
}
