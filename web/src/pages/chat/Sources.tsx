import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { placeHref, placeLabel } from '../content/place';

type ContextSource = Schema<'ContextSource'>;

/** One found item: its title, and a link to each place the answer's passages came from. */
function Source({ source }: { source: ContextSource }) {
  const id = source.content_id;
  const query = useQuery({
    queryKey: queryKeys.content.item(id),
    queryFn: () => call(api.GET('/api/content/{id}', { params: { path: { id } } })),
    staleTime: 60_000,
  });
  const title = query.data?.title ?? (query.isError ? 'Unavailable item' : 'Loading…');
  const places = source.places ?? [];
  return (
    <li className="flex flex-wrap items-baseline gap-x-2 gap-y-1">
      <Link to={`/content/${id}`} className="font-medium text-zinc-700 hover:underline dark:text-zinc-200">
        {title}
      </Link>
      {places.map((at, i) => (
        <Link
          key={i}
          to={placeHref(id, at)}
          aria-label={`${title}, ${placeLabel(at) ?? 'the passage'}`}
          className="rounded-md bg-zinc-100 px-1.5 py-0.5 tabular-nums text-zinc-600 hover:bg-brand-50 hover:text-brand-700 dark:bg-zinc-800 dark:text-zinc-300"
        >
          {placeLabel(at) ?? 'passage'}
        </Link>
      ))}
    </li>
  );
}

/**
 * The library items an answer was given because the question was about the user's files (found
 * by search), each with where its passages are: a second, a box, a paragraph. Attachments are
 * shown with the question, so they are not repeated here.
 */
export function AnswerSources({ context }: { context: ContextSource[] | null | undefined }) {
  const found = (context ?? []).filter((s) => s.parts.includes('passage'));
  if (found.length === 0) return null;
  return (
    <section aria-label="Sources" className="mt-2 text-xs text-zinc-500 dark:text-zinc-400">
      <h3 className="sr-only">Sources</h3>
      <p className="mb-1">From your library:</p>
      <ul className="space-y-1">
        {found.map((s) => (
          <Source key={s.content_id} source={s} />
        ))}
      </ul>
    </section>
  );
}
