import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useContext, useEffect, useId, useRef, useState } from 'react';
import { Link, useLocation, useNavigate, useParams, useSearchParams } from 'react-router';

import { api, call } from '../../api/client';
import { isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { LiveContext } from '../../live/LiveContext';
import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { EmptyState } from '../../ui/EmptyState';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { ChatIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { SkeletonText } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { describeError } from './apiErrors';
import { Composer, type Draft } from './Composer';
import { ConversationList } from './ConversationList';
import { ArrowLeftIcon } from './icons';
import { AnswerAnnouncer, MessageList } from './MessageList';
import { postMessage, titleFrom } from './send';
import { addPosted, answering, type Thread } from './thread';
import { useConversation } from './useConversation';

/** The chat providers the user may choose (`GET /api/providers`). */
function useProviders() {
  return useQuery({
    queryKey: [...queryKeys.conversations.all, 'providers'],
    queryFn: () => call(api.GET('/api/providers')),
    staleTime: 5 * 60_000,
  });
}

/** A model choice, shown only when there is a choice to make. */
function ProviderSelect({ value, onChange, disabled }: { value: string; onChange: (id: string) => void; disabled?: boolean }) {
  const providers = useProviders();
  const id = useId();
  const list = providers.data?.providers ?? [];
  if (list.length < 2) return null;
  return (
    <div className="flex items-center gap-2 text-sm">
      <label htmlFor={id} className="text-zinc-600 max-sm:sr-only dark:text-zinc-400">
        Model
      </label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
        className="h-8 max-w-[9rem] rounded-lg sm:max-w-[12rem] border border-zinc-300 bg-white px-2 text-sm dark:border-zinc-700 dark:bg-zinc-900"
      >
        {!list.some((p) => p.id === value) && <option value={value}>{value} (unavailable)</option>}
        {list.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
    </div>
  );
}

const panel = 'flex min-h-0 flex-col';

function BackToList() {
  return (
    <Link
      to="/chat"
      className="-ml-1 inline-flex size-8 shrink-0 items-center justify-center rounded-lg text-zinc-600 hover:bg-zinc-100 lg:hidden dark:text-zinc-300 dark:hover:bg-zinc-800"
      aria-label="All conversations"
      title="All conversations"
    >
      <ArrowLeftIcon className="size-5" />
    </Link>
  );
}

function ThreadHeader({ title, provider, onProvider, busy }: { title: string; provider: string; onProvider: (id: string) => void; busy: boolean }) {
  return (
    <div className="flex min-h-14 flex-wrap items-center gap-x-3 gap-y-1 border-b border-zinc-200 px-3 py-2 sm:px-4 dark:border-zinc-800">
      <BackToList />
      <h2 className="min-w-0 flex-1 truncate text-base font-semibold text-zinc-900 dark:text-zinc-100">{title}</h2>
      <ProviderSelect value={provider} onChange={onProvider} disabled={busy} />
    </div>
  );
}

/** A new conversation: the first message starts it. */
function NewConversation() {
  const socket = useContext(LiveContext);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const providers = useProviders();
  const [provider, setProvider] = useState<string | null>(null);
  // A conversation started whose first message was refused: the next try reuses it.
  const started = useRef<string | null>(null);
  const chosen = provider ?? providers.data?.providers[0]?.id ?? 'local';

  async function send(draft: Draft) {
    // Everything of the new conversation comes after this position: the view replays from it.
    const before = socket?.getPosition() ?? null;
    let id = started.current;
    let c: { title: string; provider: string } = { title: titleFrom(draft) ?? 'New conversation', provider: chosen };
    if (!id) {
      const created = await call(api.POST('/api/conversations', { body: { title: titleFrom(draft), provider: chosen } }));
      id = created.id;
      c = created;
      started.current = id;
      void queryClient.invalidateQueries({ queryKey: queryKeys.conversations.list() });
    }
    const posted = await postMessage(id, draft);
    const seed: Thread | undefined =
      before === null
        ? undefined
        : addPosted({ id, title: c.title, provider: c.provider, position: before, items: [], deleted: false }, posted, draft.text, draft.items.map((i) => i.id));
    navigate(`/chat/${id}`, { state: { seed } });
  }

  return (
    <div className={cx(panel, 'h-full')}>
      <div className="flex min-h-14 items-center gap-3 border-b border-zinc-200 px-3 py-2 sm:px-4 dark:border-zinc-800">
        <BackToList />
        <h2 className="flex-1 text-base font-semibold text-zinc-900 dark:text-zinc-100">New conversation</h2>
        <ProviderSelect value={chosen} onChange={setProvider} />
      </div>
      <div className="flex min-h-0 flex-1 items-center justify-center overflow-y-auto p-6">
        <EmptyState
          className="w-full max-w-md border-none"
          icon={<ChatIcon />}
          title="Ask about your files"
          description="Attach photos, recordings, videos or notes from your library — or upload or record them here — and ask anything."
        />
      </div>
      <div className="mx-auto w-full max-w-3xl px-3 pb-3 sm:px-6 sm:pb-5">
        <Composer onSend={send} answering={false} onStop={() => undefined} stopping={false} autoFocus />
      </div>
    </div>
  );
}

/** One conversation, live. */
function Conversation({ id, seed }: { id: string; seed: Thread | undefined }) {
  const { thread, error, refetch, update } = useConversation(id, seed);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const active = thread ? answering(thread) : undefined;
  const activeId = active?.id;

  // The list's read model may trail the answer's last event: refresh it once it has settled.
  useEffect(() => {
    if (!activeId) return;
    return () => {
      setTimeout(() => void queryClient.invalidateQueries({ queryKey: queryKeys.conversations.list() }), 1_000);
    };
  }, [activeId, queryClient]);

  const stop = useMutation({
    mutationFn: (answerId: string) => call(api.POST('/api/conversations/{id}/answers/{answer_id}/cancel', { params: { path: { id, answer_id: answerId } } })),
    onError: (err) => {
      // It ended on its own meanwhile: its last event says how.
      if (!isApiError(err, 'answer_not_active')) toast.error(new Error(describeError(err)), 'Could not stop the answer');
    },
  });
  const changeProvider = useMutation({
    mutationFn: (provider: string) => call(api.PATCH('/api/conversations/{id}', { params: { path: { id } }, body: { provider } })),
    onSuccess: (_d, provider) => update((t) => ({ ...t, provider })),
    onError: (err) => toast.error(new Error(describeError(err)), 'Could not change the model'),
  });

  if (thread?.deleted) {
    return (
      <div className="flex h-full items-center justify-center p-6">
        <EmptyState title="This conversation was deleted" action={<Button onClick={() => navigate('/chat')}>Back to conversations</Button>} />
      </div>
    );
  }
  if (!thread) {
    if (error) {
      return (
        <div className="flex h-full items-center justify-center p-6">
          {isApiError(error, 'not_found') ? (
            <EmptyState icon={<ChatIcon />} title="Conversation not found" description="It may have been deleted." action={<Button onClick={() => navigate('/chat')}>All conversations</Button>} />
          ) : (
            <ErrorPanel error={new Error(describeError(error))} retry={() => void refetch()} title="Could not load the conversation" />
          )}
        </div>
      );
    }
    return (
      <div className={cx(panel, 'h-full')} aria-busy="true" aria-label="Loading the conversation">
        <div className="h-14 border-b border-zinc-200 dark:border-zinc-800" />
        <div className="mx-auto w-full max-w-3xl flex-1 space-y-8 px-6 py-6">
          <SkeletonText lines={2} className="ml-auto w-2/3" />
          <SkeletonText lines={4} />
        </div>
      </div>
    );
  }

  async function send(draft: Draft) {
    const posted = await postMessage(id, draft);
    update((t) => addPosted(t, posted, draft.text, draft.items.map((i) => i.id)));
    void queryClient.invalidateQueries({ queryKey: queryKeys.conversations.list() });
  }

  return (
    <div className={cx(panel, 'h-full')}>
      <ThreadHeader title={thread.title} provider={thread.provider} onProvider={(p) => changeProvider.mutate(p)} busy={changeProvider.isPending || Boolean(active)} />
      {thread.items.length === 0 ? (
        <div className="flex min-h-0 flex-1 items-center justify-center p-6">
          <div role="log" aria-label="Messages" className="text-center text-sm text-zinc-500 dark:text-zinc-400">
            No messages yet. Ask your first question below.
          </div>
        </div>
      ) : (
        <MessageList items={thread.items} streaming={Boolean(active)} className="flex-1" />
      )}
      <AnswerAnnouncer last={thread.items.at(-1)} />
      <div className="mx-auto w-full max-w-3xl px-3 pb-3 sm:px-6 sm:pb-5">
        <Composer onSend={send} answering={Boolean(active)} stopping={stop.isPending} onStop={() => active && stop.mutate(active.id)} autoFocus />
      </div>
    </div>
  );
}

/** `/chat` (the conversations, and a new one) and `/chat/:id` (one conversation). */
export default function ChatPage() {
  const { id } = useParams<'id'>();
  const [search] = useSearchParams();
  const location = useLocation();
  const navigate = useNavigate();
  const seed = (location.state as { seed?: Thread } | null)?.seed;
  // The seed serves the first view only: a reload loads the conversation afresh.
  useEffect(() => {
    if (seed) navigate({ pathname: location.pathname, search: location.search }, { replace: true, state: null });
  }, [seed, navigate, location.pathname, location.search]);
  // Phones show one pane at a time: the list, or the conversation (or a new one).
  const showThreadOnPhone = Boolean(id) || search.has('new');
  return (
    <>
      <div className={cx(showThreadOnPhone && 'max-lg:sr-only')}>
        <PageHeader title="Chat" description="Ask about your files, with answers streamed live." />
      </div>
      <div
        className={cx(
          '-mx-4 -mb-6 grid min-h-[26rem] overflow-hidden border-y border-zinc-200 bg-white sm:mx-0 sm:rounded-2xl sm:border lg:-mb-4 lg:h-[calc(100dvh-11.5rem)] lg:grid-cols-[17rem_1fr] dark:border-zinc-800 dark:bg-zinc-950',
          // Phones: the conversation fills the screen under the top bar; the list sits under the heading.
          showThreadOnPhone ? '-mt-6 h-[calc(100dvh-3.5rem)] sm:mt-0 sm:h-[calc(100dvh-6.5rem)]' : 'h-[calc(100dvh-12rem)]',
        )}
      >
        <ConversationList
          activeId={id}
          className={cx('border-zinc-200 bg-zinc-50/70 lg:border-r dark:border-zinc-800 dark:bg-zinc-900/40', showThreadOnPhone && 'max-lg:hidden')}
        />
        <div className={cx('min-h-0 min-w-0', !showThreadOnPhone && 'max-lg:hidden')}>
          {id ? <Conversation key={id} id={id} seed={seed} /> : <NewConversation />}
        </div>
      </div>
    </>
  );
}
