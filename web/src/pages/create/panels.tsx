import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useDeferredValue, useId, useState, type FormEvent } from 'react';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { FormError, inputClass, TextField } from '../../ui/Field';
import { describeError } from '../chat/apiErrors';
import { ItemChoices, type Item } from '../chat/LibraryPicker';
import { AudioResult, Generating, TextResult } from './Result';
import { DEFAULT_VOICE, useVoices, voiceBody, VoiceControls, type VoiceChoice } from './VoiceControls';

type ItemView = Schema<'ItemView'>;

/** Runs a generation and keeps its last result; the library refreshes when it is saved. */
function useGenerate<Args>(run: (args: Args) => Promise<ItemView>) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: run,
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: queryKeys.content.all }),
  });
}

const label = 'block text-sm font-medium text-zinc-800 dark:text-zinc-200';

/** Text to speech. */
export function SpeechPanel() {
  const [text, setText] = useState('');
  const [voice, setVoice] = useState<VoiceChoice>(DEFAULT_VOICE);
  const voices = useVoices();
  const max = voices.data?.max_characters ?? 5000;
  const id = useId();
  const speak = useGenerate((body: { text: string; v: VoiceChoice }) =>
    call(api.POST('/api/generate/speech', { body: { text: body.text, ...voiceBody(body.v) } })),
  );
  const over = text.length > max;

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!text.trim() || over || speak.isPending) return;
    speak.mutate({ text: text.trim(), v: voice });
  }

  return (
    <form onSubmit={submit} className="space-y-5">
      <FormError>{speak.isError ? describeError(speak.error) : null}</FormError>
      <div className="space-y-1.5">
        <label htmlFor={id} className={label}>
          Text to speak
        </label>
        <textarea
          id={id}
          value={text}
          rows={6}
          onChange={(e) => setText(e.target.value)}
          aria-describedby={`${id}-count`}
          aria-invalid={over || undefined}
          placeholder="Type or paste what should be read aloud."
          className={cx(inputClass, 'h-auto min-h-36 resize-y py-2 leading-6')}
        />
        <p id={`${id}-count`} className={cx('text-right text-xs tabular-nums', over ? 'font-medium text-red-600 dark:text-red-400' : 'text-zinc-500 dark:text-zinc-400')}>
          {text.length.toLocaleString()} / {max.toLocaleString()} characters
        </p>
      </div>
      <VoiceControls value={voice} onChange={setVoice} disabled={speak.isPending} />
      <Button type="submit" variant="primary" loading={speak.isPending} disabled={!text.trim() || over}>
        Generate speech
      </Button>
      {speak.isPending ? <Generating what="Generating speech" /> : speak.data ? <AudioResult key={speak.data.id} item={speak.data} /> : null}
    </form>
  );
}

/** A searchable single choice of a library item. */
function ItemField({ legend, modality, value, onChange }: { legend: string; modality?: 'text'; value: Item | null; onChange: (i: Item) => void }) {
  const [search, setSearch] = useState('');
  const q = useDeferredValue(search.trim());
  const name = useId();
  return (
    <fieldset className="space-y-2">
      <legend className={cx(label, 'mb-1.5')}>{legend}</legend>
      <input type="search" aria-label={`Search: ${legend}`} className={inputClass} placeholder="Search your library" value={search} onChange={(e) => setSearch(e.target.value)} />
      <ItemChoices q={q} modality={modality} selected={value ? [value] : []} onToggle={onChange} multiple={false} name={name} />
    </fieldset>
  );
}

/** Summarise any item, or describe an image. */
export function SummaryPanel() {
  const [item, setItem] = useState<Item | null>(null);
  const [kind, setKind] = useState<'summary' | 'description'>('summary');
  const [words, setWords] = useState('60');
  const wordCount = Number(words);
  const wordsInvalid = kind === 'summary' && (!Number.isInteger(wordCount) || wordCount < 10 || wordCount > 300);
  const make = useGenerate((args: { item: Item; kind: 'summary' | 'description'; words: number }) =>
    args.kind === 'summary'
      ? call(api.POST('/api/generate/summary', { body: { content_id: args.item.id, words: args.words } }))
      : call(api.POST('/api/generate/description', { body: { content_id: args.item.id } })),
  );
  const describable = item?.modality === 'image';

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!item || wordsInvalid || make.isPending) return;
    make.mutate({ item, kind: kind === 'description' && !describable ? 'summary' : kind, words: wordCount });
  }

  return (
    <form onSubmit={submit} className="space-y-5">
      <FormError>{make.isError ? describeError(make.error) : null}</FormError>
      <ItemField legend="Item to summarise or describe" value={item} onChange={setItem} />
      <fieldset className="space-y-2">
        <legend className={cx(label, 'mb-1.5')}>What to make</legend>
        <div className="flex flex-wrap gap-2">
          {(
            [
              ['summary', 'A summary', 'Any item: a text, a recording, an image or a video.'],
              ['description', 'A description', 'Images: what the picture shows and the text in it.'],
            ] as const
          ).map(([value, title, hint]) => (
            <label
              key={value}
              className={cx(
                'flex min-w-[14rem] flex-1 cursor-pointer gap-3 rounded-lg border p-3 text-sm',
                kind === value ? 'border-brand-500 bg-brand-50 dark:bg-brand-500/10' : 'border-zinc-300 dark:border-zinc-700',
                value === 'description' && item && !describable && 'cursor-not-allowed opacity-50',
              )}
            >
              <input
                type="radio"
                name="make"
                value={value}
                checked={kind === value}
                disabled={value === 'description' && Boolean(item) && !describable}
                onChange={() => setKind(value)}
                className="mt-0.5 accent-brand-600"
              />
              <span>
                <span className="block font-medium">{title}</span>
                <span className="block text-xs text-zinc-600 dark:text-zinc-400">{hint}</span>
              </span>
            </label>
          ))}
        </div>
      </fieldset>
      {kind === 'summary' && (
        <TextField
          label="Longest summary, in words"
          type="number"
          inputMode="numeric"
          min={10}
          max={300}
          value={words}
          onChange={(e) => setWords(e.target.value)}
          error={wordsInvalid ? 'Between 10 and 300 words.' : undefined}
          hint="A video's summary follows its scenes instead."
          className="max-w-xs"
        />
      )}
      <Button type="submit" variant="primary" loading={make.isPending} disabled={!item || wordsInvalid}>
        {kind === 'description' && describable ? 'Generate description' : 'Generate summary'}
      </Button>
      {make.isPending ? (
        <Generating what={kind === 'description' && describable ? 'Describing the image' : 'Summarising'} />
      ) : make.data ? (
        <TextResult key={make.data.id} item={make.data} />
      ) : null}
    </form>
  );
}

/** Read a text item aloud. */
export function NarrationPanel() {
  const [item, setItem] = useState<Item | null>(null);
  const [voice, setVoice] = useState<VoiceChoice>(DEFAULT_VOICE);
  const narrate = useGenerate((args: { item: Item; v: VoiceChoice }) =>
    call(api.POST('/api/generate/narration', { body: { content_id: args.item.id, ...voiceBody(args.v) } })),
  );

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!item || narrate.isPending) return;
    narrate.mutate({ item, v: voice });
  }

  return (
    <form onSubmit={submit} className="space-y-5">
      <FormError>{narrate.isError ? describeError(narrate.error) : null}</FormError>
      <ItemField legend="Document to narrate" modality="text" value={item} onChange={setItem} />
      <p className="text-xs text-zinc-500 dark:text-zinc-400">Up to the first 5,000 characters are read aloud.</p>
      <VoiceControls value={voice} onChange={setVoice} disabled={narrate.isPending} />
      <Button type="submit" variant="primary" loading={narrate.isPending} disabled={!item}>
        Generate narration
      </Button>
      {narrate.isPending ? <Generating what="Narrating the document" /> : narrate.data ? <AudioResult key={narrate.data.id} item={narrate.data} /> : null}
    </form>
  );
}
