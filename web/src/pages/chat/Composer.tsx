import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';

import { Button, IconButton } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { FormError } from '../../ui/Field';
import { UploadIcon, XIcon } from '../../ui/icons';
import { describeError } from './apiErrors';
import { DraftChip } from './Attachments';
import { MicIcon, PaperclipIcon, SendIcon, StopIcon } from './icons';
import { LibraryPicker, type Item } from './LibraryPicker';
import { canRecordVoice, MAX_RECORDING_SECONDS, useVoiceRecorder } from './useVoiceRecorder';

/** What the user sends: text, library items and files uploaded with the message. */
export interface Draft {
  text: string;
  items: Item[];
  files: File[];
}

/** At most this many attachments per message (the server's limit). */
export const MAX_ATTACHMENTS = 16;
const MAX_CHARS = 32_000;

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
  const recordButton = useRef<HTMLButtonElement>(null);
  const id = useId();
  const recorder = useVoiceRecorder(
    (file) => setFiles((f) => [...f, file]),
    (message) => setError(message),
  );
  const [micSupported] = useState(canRecordVoice);
  const { recording, cancel: cancelRecording } = recorder;

  // Escape while recording discards the recording.
  useEffect(() => {
    if (!recording) return;
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented) return;
      e.preventDefault();
      cancelRecording();
      recordButton.current?.focus();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [recording, cancelRecording]);

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
    if (empty || sending || answering || disabled || tooMany || tooLong || recorder.busy) return;
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
          {micSupported && (
            <IconButton
              ref={recordButton}
              label={recorder.recording ? 'Finish recording' : 'Record a voice message'}
              size="sm"
              variant={recorder.recording ? 'danger' : 'ghost'}
              onClick={() => {
                setError(null);
                if (recorder.recording) void recorder.finish();
                else void recorder.start();
              }}
              disabled={(disabled && !recorder.recording) || recorder.state === 'starting' || recorder.state === 'finishing'}
            >
              {recorder.recording ? <StopIcon className="size-[18px]" /> : <MicIcon className="size-[18px]" />}
            </IconButton>
          )}
          {recorder.recording && (
            <span className="flex items-center gap-2 pl-1">
              <span className="size-2 shrink-0 animate-pulse rounded-full bg-red-600" aria-hidden="true" />
              <span role="timer" aria-label="Recording time" className="text-xs whitespace-nowrap text-zinc-700 tabular-nums dark:text-zinc-300">
                {clock(recorder.elapsed)}
                <span className="hidden sm:inline"> / {clock(MAX_RECORDING_SECONDS)}</span>
              </span>
              <span
                role="meter"
                aria-label="Microphone level"
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={Math.round(recorder.level * 100)}
                className="h-1.5 w-8 overflow-hidden rounded-full bg-zinc-200 sm:w-14 dark:bg-zinc-700"
              >
                <span
                  className="block h-full origin-left rounded-full bg-red-600 transition-transform duration-75"
                  // The square root shows quiet speech too.
                  style={{ transform: `scaleX(${Math.sqrt(recorder.level).toFixed(3)})` }}
                />
              </span>
              <IconButton
                label="Cancel recording"
                size="sm"
                onClick={() => {
                  recorder.cancel();
                  recordButton.current?.focus();
                }}
              >
                <XIcon />
              </IconButton>
              <span className="sr-only" role="status">
                Recording a voice message. Escape cancels it.
              </span>
            </span>
          )}
          <p id={hintId} className={cx('ml-auto hidden px-2 text-xs text-zinc-500 dark:text-zinc-400', !recorder.recording && 'sm:block')}>
            Enter to send · Shift+Enter for a new line
          </p>
          {answering ? (
            <Button size="sm" variant="secondary" className={cx('ml-auto', !recorder.recording && 'sm:ml-0')} onClick={onStop} disabled={stopping} icon={<StopIcon />}>
              {stopping ? 'Stopping…' : 'Stop'}
            </Button>
          ) : (
            <Button
              type="submit"
              size="sm"
              variant="primary"
              className={cx('ml-auto', !recorder.recording && 'sm:ml-0')}
              loading={sending}
              disabled={empty || disabled || tooMany || tooLong || recorder.busy}
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
