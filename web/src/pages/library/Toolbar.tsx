import { startTransition, useEffect, useId, useState } from 'react';
import { useNavigate } from 'react-router';

import { cx } from '../../ui/cx';
import { inputClass } from '../../ui/Field';
import { LibraryIcon, SearchIcon, XIcon } from '../../ui/icons';
import { SEARCH_SHORTCUTS } from '../../shell/searchShortcut';
import { MAX_QUERY_CHARS, searchHref } from '../search/params';
import { MODALITIES, SORTS, isFiltered, type Filters } from './filters';
import { ListIcon } from './icons';

const segBase =
  'inline-flex h-8 items-center gap-1.5 rounded-md px-2.5 text-sm font-medium whitespace-nowrap transition-colors focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-brand-500';
const segOn = 'bg-white text-zinc-900 shadow-sm dark:bg-zinc-700 dark:text-zinc-50';
const segOff = 'text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100';

/**
 * False until the browser is first idle. Date fields and a suggestions list are among the most
 * expensive things to show the first time (the browser builds their inner parts and styles the
 * whole page again): they start as plain text fields, same size and value, and become what they
 * are once the page and its items are on screen.
 */
function useIdle(): boolean {
  const [idle, setIdle] = useState(false);
  useEffect(() => {
    if (typeof window.requestIdleCallback === 'function') {
      const id = window.requestIdleCallback(() => startTransition(() => setIdle(true)), { timeout: 2_000 });
      return () => window.cancelIdleCallback(id);
    }
    const t = setTimeout(() => startTransition(() => setIdle(true)), 300);
    return () => clearTimeout(t);
  }, []);
  return idle;
}

/**
 * Search, filters, sort and the grid/list switch; every change goes to the address. The search box
 * opens the search page (`/search?q=…`, by words and by meaning) with the type, tag and days
 * chosen here.
 */
export function Toolbar({ filters, onChange, knownTags }: { filters: Filters; onChange: (f: Partial<Filters>) => void; knownTags: string[] }) {
  const [q, setQ] = useState('');
  const ids = useId();
  const idle = useIdle();
  const navigate = useNavigate();

  const label = 'mb-1 block text-xs font-medium text-zinc-600 dark:text-zinc-400';
  return (
    <div className="mb-5 space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <div role="group" aria-label="Show" className="inline-flex rounded-lg bg-zinc-100 p-0.5 dark:bg-zinc-800/80">
          <button type="button" aria-pressed={!filters.trash} className={cx(segBase, !filters.trash ? segOn : segOff)} onClick={() => onChange({ trash: false })}>
            All items
          </button>
          <button type="button" aria-pressed={filters.trash} className={cx(segBase, filters.trash ? segOn : segOff)} onClick={() => onChange({ trash: true })}>
            Trash
          </button>
        </div>
        <form
          role="search"
          className="relative order-last w-full sm:order-none sm:w-auto sm:min-w-56 sm:flex-1"
          onSubmit={(e) => {
            e.preventDefault();
            if (!q.trim()) return;
            void navigate(searchHref({ q, modality: filters.modality, tag: filters.tag, from: filters.from, to: filters.to }));
          }}
        >
          <label htmlFor={`${ids}-q`} className="sr-only">
            Search the library
          </label>
          <SearchIcon className="pointer-events-none absolute top-1/2 left-3 size-4 -translate-y-1/2 text-zinc-400" />
          <input
            id={`${ids}-q`}
            type="search"
            data-search-box=""
            aria-keyshortcuts={SEARCH_SHORTCUTS}
            value={q}
            onChange={(e) => setQ(e.target.value)}
            maxLength={MAX_QUERY_CHARS}
            enterKeyHint="search"
            placeholder="Search by words or meaning"
            className={cx(inputClass, 'pl-9')}
          />
        </form>
        <div className="ml-auto flex items-center gap-2 sm:ml-0">
          <label htmlFor={`${ids}-sort`} className="sr-only">
            Sort
          </label>
          <select id={`${ids}-sort`} value={filters.sort} onChange={(e) => onChange({ sort: e.target.value as Filters['sort'] })} className={cx(inputClass, 'w-auto pr-8')}>
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
          <div role="group" aria-label="Layout" className="inline-flex rounded-lg bg-zinc-100 p-0.5 dark:bg-zinc-800/80">
            <button type="button" aria-pressed={filters.view === 'grid'} aria-label="Grid" title="Grid" className={cx(segBase, 'px-2', filters.view === 'grid' ? segOn : segOff)} onClick={() => onChange({ view: 'grid' })}>
              <LibraryIcon />
            </button>
            <button type="button" aria-pressed={filters.view === 'list'} aria-label="List" title="List" className={cx(segBase, 'px-2', filters.view === 'list' ? segOn : segOff)} onClick={() => onChange({ view: 'list' })}>
              <ListIcon />
            </button>
          </div>
        </div>
      </div>
      <div className="flex flex-wrap items-end gap-x-3 gap-y-2">
        <div role="group" aria-label="Type" className="-mx-1 flex max-w-full gap-1 overflow-x-auto px-1 py-0.5">
          {MODALITIES.map((m) => (
            <button
              key={m.value || 'all'}
              type="button"
              aria-pressed={filters.modality === m.value}
              onClick={() => onChange({ modality: m.value })}
              className={cx(
                'h-8 shrink-0 rounded-full border px-3 text-sm font-medium transition-colors focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-brand-500',
                filters.modality === m.value
                  ? 'border-brand-600 bg-brand-600 text-white'
                  : 'border-zinc-300 text-zinc-700 hover:bg-zinc-100 dark:border-zinc-700 dark:text-zinc-300 dark:hover:bg-zinc-800',
              )}
            >
              {m.label}
            </button>
          ))}
        </div>
        <div className="flex flex-wrap items-end gap-2">
          <div>
            <label htmlFor={`${ids}-tag`} className={label}>
              Tag
            </label>
            <input
              id={`${ids}-tag`}
              list={idle ? `${ids}-tags` : undefined}
              value={filters.tag}
              onChange={(e) => onChange({ tag: e.target.value })}
              placeholder="Any"
              className={cx(inputClass, 'h-8! w-32!')}
            />
            {idle && (
              <datalist id={`${ids}-tags`}>
                {knownTags.map((t) => (
                  <option key={t} value={t} />
                ))}
              </datalist>
            )}
          </div>
          <div>
            <label htmlFor={`${ids}-from`} className={label}>
              From
            </label>
            <input id={`${ids}-from`} type={idle ? 'date' : 'text'} value={filters.from} max={filters.to || undefined} onChange={(e) => onChange({ from: e.target.value })} className={cx(inputClass, 'h-8! w-36!')} />
          </div>
          <div>
            <label htmlFor={`${ids}-to`} className={label}>
              To
            </label>
            <input id={`${ids}-to`} type={idle ? 'date' : 'text'} value={filters.to} min={filters.from || undefined} onChange={(e) => onChange({ to: e.target.value })} className={cx(inputClass, 'h-8! w-36!')} />
          </div>
          {isFiltered(filters) && (
            <button
              type="button"
              onClick={() => onChange({ modality: '', tag: '', from: '', to: '' })}
              className="inline-flex h-8 items-center gap-1 rounded-md px-2 text-sm font-medium text-zinc-600 hover:bg-zinc-100 dark:text-zinc-400 dark:hover:bg-zinc-800"
            >
              <XIcon />
              Clear filters
            </button>
          )}
        </div>
      </div>
    </div>
  );
}
