import { useInfiniteQuery } from '@tanstack/react-query';
import { useCallback, useId, useMemo, useState } from 'react';
import { useLocation, useSearchParams } from 'react-router';

import { isApiError } from '../../api/errors';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { inputClass } from '../../ui/Field';
import { SearchIcon, XIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { SEARCH_SHORTCUTS } from '../../shell/searchShortcut';
import { ConversationResults } from './ConversationResults';
import { searchError } from './messages';
import { isNarrowed, MAX_QUERY_CHARS, readSearch, SEARCH_MODALITIES, writeSearch, type SearchFilters } from './params';
import { ResultGroup, ResultsSkeleton } from './Results';
import { searchOptions, type ItemHits } from './searchQuery';

/** The state a navigation sets to land with the cursor in the search box (the `/` shortcut). */
export interface SearchLocationState {
  focusSearch?: boolean;
}

/** The words to look for; submitting puts them in the address (a new history entry). */
function SearchBox({ q, autoFocus, onSearch }: { q: string; autoFocus: boolean; onSearch: (q: string) => void }) {
  const id = useId();
  const [value, setValue] = useState(q);
  // The address (back/forward, a link) wins over what was typed.
  const [shownQ, setShownQ] = useState(q);
  if (shownQ !== q) {
    setShownQ(q);
    setValue(q);
  }
  return (
    <form
      role="search"
      className="flex gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        onSearch(value);
      }}
    >
      <div className="relative min-w-0 flex-1">
        <label htmlFor={id} className="sr-only">
          Search your library
        </label>
        <SearchIcon className="pointer-events-none absolute top-1/2 left-3 size-4 -translate-y-1/2 text-zinc-400" />
        <input
          id={id}
          type="search"
          // The `/` and Ctrl-K shortcut (src/shell/searchShortcut.ts) focuses this box.
          data-search-box=""
          // A search page exists to be typed into (the shell leaves focus where a page put it).
          autoFocus={autoFocus}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          maxLength={MAX_QUERY_CHARS}
          enterKeyHint="search"
          autoComplete="off"
          placeholder="Words, or what you are looking for"
          aria-keyshortcuts={SEARCH_SHORTCUTS}
          className={cx(inputClass, 'pl-9')}
        />
      </div>
      <Button type="submit" variant="primary">
        Search
      </Button>
    </form>
  );
}

const chip =
  'h-8 shrink-0 rounded-full border px-3 text-sm font-medium transition-colors focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-brand-500';
const chipOn = 'border-brand-600 bg-brand-600 text-white';
const chipOff = 'border-zinc-300 text-zinc-700 hover:bg-zinc-100 dark:border-zinc-700 dark:text-zinc-300 dark:hover:bg-zinc-800';

/** The filters besides the type (set from the library or a link), each removable. */
function ActiveFilters({ filters, onChange }: { filters: SearchFilters; onChange: (f: Partial<SearchFilters>) => void }) {
  const active: { key: keyof SearchFilters; label: string; reset: Partial<SearchFilters> }[] = [];
  if (filters.tag) active.push({ key: 'tag', label: `Tag: ${filters.tag}`, reset: { tag: '' } });
  if (filters.from) active.push({ key: 'from', label: `From ${filters.from}`, reset: { from: '' } });
  if (filters.to) active.push({ key: 'to', label: `To ${filters.to}`, reset: { to: '' } });
  if (filters.item) active.push({ key: 'item', label: 'Within one item', reset: { item: '' } });
  if (filters.ranking !== 'hybrid') {
    active.push({ key: 'ranking', label: filters.ranking === 'words' ? 'By words only' : 'By meaning only', reset: { ranking: 'hybrid' } });
  }
  if (active.length === 0) return null;
  return (
    <ul aria-label="Filters" className="flex flex-wrap gap-2">
      {active.map((f) => (
        <li key={f.key}>
          <span className="inline-flex h-8 items-center gap-1 rounded-full bg-zinc-100 pr-1 pl-3 text-sm text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300">
            {f.label}
            <button
              type="button"
              aria-label={`Remove the filter ${f.label}`}
              onClick={() => onChange(f.reset)}
              className="inline-flex size-6 items-center justify-center rounded-full hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-brand-500 dark:hover:bg-zinc-700"
            >
              <XIcon className="size-3.5" />
            </button>
          </span>
        </li>
      ))}
    </ul>
  );
}

/** `/search?q=…`: the library searched by words and by meaning, results grouped by item. */
export default function SearchPage() {
  const [params, setParams] = useSearchParams();
  const location = useLocation();
  const filters = useMemo(() => readSearch(params), [params]);
  // Every change is a new history entry: back and forward step through searches.
  const setFilters = useCallback((change: Partial<SearchFilters>) => setParams((p) => writeSearch({ ...readSearch(p), ...change })), [setParams]);
  const results = useInfiniteQuery(searchOptions(filters));
  const q = filters.q.trim();
  const focusRequested = (location.state as SearchLocationState | null)?.focusSearch === true;

  const groups = useMemo(() => {
    const seen = new Set<string>();
    const out: ItemHits[] = [];
    for (const page of results.data?.pages ?? []) {
      for (const g of page.items) {
        if (seen.has(g.item.id)) continue;
        seen.add(g.item.id);
        out.push(g);
      }
    }
    return out;
  }, [results.data]);
  // Only the first page carries the caller's conversations that match.
  const conversations = results.data?.pages[0]?.conversations ?? [];
  const found = groups.length > 0 || conversations.length > 0;

  let body;
  if (!q) {
    body = (
      <EmptyState
        icon={<SearchIcon />}
        title="Search your library"
        description="Look for words, or describe what you mean: a photo of a red bicycle, the part of a meeting about the budget. Press / anywhere to search."
      />
    );
  } else if (results.isPending) {
    body = <ResultsSkeleton />;
  } else if (results.isError && !found) {
    const byWords = isApiError(results.error, 'model_unavailable') && filters.ranking !== 'words';
    body = (
      <ErrorPanel
        title="Could not search"
        error={results.error}
        message={searchError(results.error)}
        retry={() => void results.refetch()}
        action={
          byWords ? (
            <Button variant="primary" onClick={() => setFilters({ ranking: 'words' })}>
              Search by words only
            </Button>
          ) : undefined
        }
      />
    );
  } else if (!found) {
    const narrowed = isNarrowed(filters);
    body = (
      <EmptyState
        icon={<SearchIcon />}
        title={`Nothing found for “${q}”`}
        description={narrowed ? 'Try other words, or remove some filters.' : 'Try other words, or describe what you are looking for.'}
        action={
          narrowed ? <Button onClick={() => setFilters({ modality: '', tag: '', from: '', to: '', item: '', ranking: 'hybrid' })}>Clear filters</Button> : undefined
        }
      />
    );
  } else {
    const dimmed = results.isRefetching && !results.isFetchingNextPage;
    body = (
      <>
        {conversations.length > 0 && <ConversationResults conversations={conversations} q={q} dimmed={dimmed} />}
        {groups.length > 0 && (
          <>
            {/* Under a visible “Conversations” heading, the library's results need one too. */}
            <h2 className={conversations.length > 0 ? 'mb-2 text-sm font-semibold text-zinc-900 dark:text-zinc-100' : 'sr-only'}>
              {conversations.length > 0 ? 'In your library' : 'Results'}
            </h2>
            <ol aria-label={`Results for “${q}”`} className={cx('space-y-3', dimmed && 'opacity-80')}>
              {groups.map((g) => (
                <ResultGroup key={g.item.id} group={g} />
              ))}
            </ol>
          </>
        )}
        {results.hasNextPage && (
          <div className="mt-6 flex justify-center">
            <Button onClick={() => void results.fetchNextPage()} loading={results.isFetchingNextPage}>
              Load more
            </Button>
          </div>
        )}
        {results.isFetchNextPageError && (
          <p role="alert" className="mt-4 text-center text-sm text-red-700 dark:text-red-400">
            {isApiError(results.error, 'invalid_cursor') ? searchError(results.error) : 'Could not load more results. Try “Load more” again.'}
          </p>
        )}
      </>
    );
  }

  return (
    <>
      <PageHeader title="Search" description="Everything you uploaded, found by its words and by what it means: a line of a recording, text in a picture, a moment of a video." />
      <div className="mb-5 space-y-3">
        <SearchBox q={filters.q} autoFocus={!q || focusRequested} onSearch={(next) => (next.trim() && next.trim() === q ? void results.refetch() : setFilters({ q: next }))} />
        <div role="group" aria-label="Type" className="-mx-1 flex max-w-full gap-1 overflow-x-auto px-1 py-0.5">
          {SEARCH_MODALITIES.map((m) => (
            <button
              key={m.value || 'all'}
              type="button"
              aria-pressed={filters.modality === m.value}
              onClick={() => setFilters({ modality: m.value })}
              className={cx(chip, filters.modality === m.value ? chipOn : chipOff)}
            >
              {m.label}
            </button>
          ))}
        </div>
        <ActiveFilters filters={filters} onChange={setFilters} />
      </div>
      {body}
    </>
  );
}
