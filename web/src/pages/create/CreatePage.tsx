import { useId, useRef, type KeyboardEvent } from 'react';
import { useSearchParams } from 'react-router';

import { cx } from '../../ui/cx';
import { PageHeader } from '../../ui/PageHeader';
import { NarrationPanel, SpeechPanel, SummaryPanel } from './panels';

const TABS = [
  { id: 'speech', label: 'Speech', description: 'Turn text into speech with a voice of your choice.', Panel: SpeechPanel },
  { id: 'summary', label: 'Summarise or describe', description: 'Summarise any library item, or describe a picture.', Panel: SummaryPanel },
  { id: 'narration', label: 'Narrate', description: 'Read one of your documents aloud.', Panel: NarrationPanel },
] as const;

type TabId = (typeof TABS)[number]['id'];

/** `/create`: speech from text, summaries and descriptions of items, narrations of documents. */
export default function CreatePage() {
  const [params, setParams] = useSearchParams();
  const current: TabId = TABS.find((t) => t.id === params.get('tab'))?.id ?? 'speech';
  const base = useId();
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const tab = TABS.find((t) => t.id === current) ?? TABS[0];

  function select(id: TabId, focus = false) {
    setParams(id === 'speech' ? {} : { tab: id }, { replace: true });
    if (focus) refs.current[id]?.focus();
  }

  function onKeyDown(e: KeyboardEvent) {
    const i = TABS.findIndex((t) => t.id === current);
    const to =
      e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i - 1 + TABS.length) % TABS.length : e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : -1;
    const next = TABS[to];
    if (!next) return;
    e.preventDefault();
    select(next.id, true);
  }

  return (
    <>
      <PageHeader title="Create" description="Make speech, summaries, descriptions and narrations; each result is saved to your library." />
      <div role="tablist" aria-label="What to create" className="mb-6 flex max-w-3xl gap-1 overflow-x-auto rounded-xl bg-zinc-100 p-1 dark:bg-zinc-900" onKeyDown={onKeyDown}>
        {TABS.map((t) => {
          const selected = t.id === current;
          return (
            <button
              key={t.id}
              ref={(el) => {
                refs.current[t.id] = el;
              }}
              type="button"
              role="tab"
              id={`${base}-tab-${t.id}`}
              aria-selected={selected}
              aria-controls={`${base}-panel`}
              tabIndex={selected ? 0 : -1}
              onClick={() => select(t.id)}
              className={cx(
                'h-9 flex-1 shrink-0 rounded-lg px-3 text-sm font-medium whitespace-nowrap transition-colors',
                selected ? 'bg-white text-zinc-900 shadow-sm dark:bg-zinc-800 dark:text-zinc-50' : 'text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100',
              )}
            >
              {t.label}
            </button>
          );
        })}
      </div>
      <div role="tabpanel" id={`${base}-panel`} aria-labelledby={`${base}-tab-${current}`} className="max-w-3xl">
        <p className="mb-5 text-sm text-zinc-600 dark:text-zinc-400">{tab.description}</p>
        <tab.Panel key={tab.id} />
      </div>
    </>
  );
}
