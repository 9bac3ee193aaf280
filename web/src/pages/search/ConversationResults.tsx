import { memo, useId } from 'react';
import { Link } from 'react-router';

import { RelativeTime } from '../../ui/RelativeTime';
import { Snippet } from './Results';
import type { ConversationHits, MessageHit } from './searchQuery';

/** Who wrote a message (`MessageHit.role`). */
const ROLE_LABEL: Record<string, string> = { user: 'You', assistant: 'Assistant' };

function MessageHitLine({ hit }: { hit: MessageHit }) {
  return (
    <li className="flex flex-col gap-0.5 px-2 py-1.5 text-sm text-zinc-700 sm:flex-row sm:gap-3 dark:text-zinc-300">
      <span className="shrink-0 pt-0.5 text-xs font-medium text-zinc-500 sm:w-24 dark:text-zinc-400">{ROLE_LABEL[hit.role] ?? hit.role}</span>{' '}
      <span className="min-w-0 flex-1 break-words">
        <Snippet parts={hit.snippet} />
        {hit.by_meaning && !hit.by_words && <span className="ml-1.5 text-xs text-zinc-500 dark:text-zinc-400">· similar in meaning</span>}
      </span>{' '}
      <span className="shrink-0 pt-0.5 text-xs text-zinc-500 dark:text-zinc-400">
        <RelativeTime iso={hit.sent_at} />
      </span>
    </li>
  );
}

/** One conversation of the results: its title (a link to it in the chat), then each matching message. */
const ConversationGroup = memo(function ConversationGroup({ conversation }: { conversation: ConversationHits }) {
  const { id, hits } = conversation;
  const title = conversation.title.trim() || 'Untitled conversation';
  const titleId = useId();
  return (
    <li>
      <article aria-labelledby={titleId} className="rounded-2xl border border-zinc-200 bg-white p-3 sm:p-4 dark:border-zinc-800 dark:bg-zinc-900/60">
        <h3 id={titleId} className="truncate text-sm font-medium">
          <Link to={`/chat/${id}`} className="rounded-sm text-zinc-900 hover:underline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-500 dark:text-zinc-100">
            {title}
          </Link>
        </h3>
        {hits.length > 0 && (
          <ul aria-label={`Found in “${title}”`} className="mt-2 space-y-0.5">
            {hits.map((hit, i) => (
              <MessageHitLine key={`${hit.message_id}-${i}`} hit={hit} />
            ))}
          </ul>
        )}
      </article>
    </li>
  );
});

/** The caller's own conversations that match, above the library's results. */
export function ConversationResults({ conversations, q, dimmed }: { conversations: ConversationHits[]; q: string; dimmed?: boolean }) {
  const headingId = useId();
  return (
    <section aria-labelledby={headingId} className="mb-6">
      <h2 id={headingId} className="mb-2 text-sm font-semibold text-zinc-900 dark:text-zinc-100">
        Conversations
      </h2>
      <ol aria-label={`Conversations for “${q}”`} className={dimmed ? 'space-y-3 opacity-80' : 'space-y-3'}>
        {conversations.map((c) => (
          <ConversationGroup key={c.id} conversation={c} />
        ))}
      </ol>
    </section>
  );
}
