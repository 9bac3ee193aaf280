import { useInfiniteQuery, useMutation, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { Button, IconButton } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { FormError, TextField } from '../../ui/Field';
import { ErrorPanel } from '../../ui/ErrorBoundary';
import { PlusIcon, TrashIcon } from '../../ui/icons';
import { Skeleton } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import { formatRelative } from '../../ui/format';
import { describeError } from './apiErrors';
import { PencilIcon } from './icons';

type Conversation = Schema<'ConversationView'>;

type Page = Schema<'ConversationList'>;

/** The conversations, 50 at a time, most recently active first. */
export function useConversationList() {
  return useInfiniteQuery({
    queryKey: queryKeys.conversations.list(),
    queryFn: ({ pageParam }) => call(api.GET('/api/conversations', { params: { query: { limit: 50, ...(pageParam ? { after: pageParam } : {}) } } })),
    initialPageParam: '',
    getNextPageParam: (last: Page) => last.next ?? undefined,
  });
}

function RenameForm({ conversation, onDone }: { conversation: Conversation; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [title, setTitle] = useState(conversation.title);
  const [error, setError] = useState<string | null>(null);
  const rename = useMutation({
    mutationFn: () => call(api.PATCH('/api/conversations/{id}', { params: { path: { id: conversation.id } }, body: { title: title.trim() } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: queryKeys.conversations.all });
      onDone();
    },
    onError: (err) => setError(describeError(err)),
  });
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        if (title.trim()) rename.mutate();
      }}
    >
      <FormError>{error}</FormError>
      <TextField label="Title" value={title} maxLength={200} autoFocus onChange={(e) => setTitle(e.target.value)} />
      <div className="flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <Button onClick={onDone} disabled={rename.isPending}>
          Cancel
        </Button>
        <Button variant="primary" type="submit" loading={rename.isPending} disabled={!title.trim()}>
          Save
        </Button>
      </div>
    </form>
  );
}

function RenameDialog({ conversation, onClose }: { conversation: Conversation | null; onClose: () => void }) {
  return (
    <Dialog open={conversation !== null} onClose={onClose} title="Rename conversation">
      {conversation && <RenameForm conversation={conversation} onDone={onClose} />}
    </Dialog>
  );
}

/** The user's conversations, most recently active first: open, rename, delete, start one. */
export function ConversationList({ activeId, className }: { activeId: string | undefined; className?: string }) {
  const query = useConversationList();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const toast = useToast();
  const conversations = query.data?.pages.flatMap((p) => p.conversations) ?? [];
  const [renaming, setRenaming] = useState<Conversation | null>(null);
  const [deleting, setDeleting] = useState<Conversation | null>(null);
  const remove = useMutation({
    mutationFn: (c: Conversation) => call(api.DELETE('/api/conversations/{id}', { params: { path: { id: c.id } } })),
    onSuccess: (_d, c) => {
      setDeleting(null);
      queryClient.setQueryData(queryKeys.conversations.list(), (old: InfiniteData<Page, string> | undefined) =>
        old ? { ...old, pages: old.pages.map((p) => ({ ...p, conversations: p.conversations.filter((x) => x.id !== c.id) })) } : old,
      );
      void queryClient.invalidateQueries({ queryKey: queryKeys.conversations.all });
      toast.success('Conversation deleted');
      if (c.id === activeId) navigate('/chat');
    },
    onError: (err) => toast.error(new Error(describeError(err)), 'Could not delete the conversation'),
  });

  return (
    <section aria-label="Conversations" className={cx('flex min-h-0 flex-col', className)}>
      <div className="p-3">
        <Button variant="primary" className="w-full" icon={<PlusIcon />} onClick={() => navigate('/chat?new=1')}>
          New chat
        </Button>
      </div>
      <div className="min-h-0 flex-1 overflow-y-auto px-2 pb-3">
        {query.isPending ? (
          <div className="space-y-1 px-1" aria-hidden="true">
            {[0, 1, 2, 3, 4].map((i) => (
              <Skeleton key={i} className="h-12 w-full" />
            ))}
          </div>
        ) : query.isError ? (
          <ErrorPanel error={query.error} retry={() => void query.refetch()} title="Could not load conversations" />
        ) : conversations.length === 0 ? (
          <p className="px-3 py-6 text-center text-sm text-zinc-500 dark:text-zinc-400">No conversations yet. Ask your first question.</p>
        ) : (
          <ul className="space-y-0.5">
            {conversations.map((c) => {
              const active = c.id === activeId;
              return (
                <li key={c.id} className="group relative">
                  <Link
                    to={`/chat/${c.id}`}
                    aria-current={active ? 'page' : undefined}
                    className={cx(
                      'block rounded-lg py-2 pr-20 pl-3 text-sm transition-colors',
                      active ? 'bg-zinc-200/70 text-zinc-900 dark:bg-zinc-800 dark:text-zinc-50' : 'text-zinc-700 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800/60',
                    )}
                  >
                    <span className="block truncate font-medium">{c.title}</span>
                    <span className={cx('block text-xs', active ? 'text-zinc-700 dark:text-zinc-300' : 'text-zinc-500 dark:text-zinc-400')}>
                      {c.answering ? 'Answering…' : formatRelative(c.updated_at)}
                    </span>
                  </Link>
                  <span className="absolute top-1/2 right-1 flex -translate-y-1/2 gap-0.5 opacity-100 transition-opacity lg:opacity-0 lg:group-focus-within:opacity-100 lg:group-hover:opacity-100">
                    <IconButton size="sm" label={`Rename “${c.title}”`} onClick={() => setRenaming(c)}>
                      <PencilIcon />
                    </IconButton>
                    <IconButton size="sm" label={`Delete “${c.title}”`} onClick={() => setDeleting(c)}>
                      <TrashIcon />
                    </IconButton>
                  </span>
                </li>
              );
            })}
          </ul>
        )}
        {query.hasNextPage && (
          <Button variant="ghost" size="sm" className="mt-2 w-full" loading={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()}>
            Show older conversations
          </Button>
        )}
      </div>
      <RenameDialog conversation={renaming} onClose={() => setRenaming(null)} />
      <ConfirmDialog
        open={deleting !== null}
        onCancel={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate(deleting)}
        title="Delete this conversation?"
        description={deleting ? `“${deleting.title}” and its answers will be deleted. An answer being written stops.` : undefined}
        confirmLabel="Delete"
        danger
        busy={remove.isPending}
      />
    </section>
  );
}
