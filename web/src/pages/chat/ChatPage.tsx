import { useParams } from 'react-router';

import { EmptyState } from '../../ui/EmptyState';
import { ChatIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';

/** `/chat` (the conversations) and `/chat/:id` (one conversation). */
export default function ChatPage() {
  const { id } = useParams<'id'>();
  return (
    <>
      <PageHeader title="Chat" description="Ask about your files, with answers streamed live." />
      <EmptyState
        icon={<ChatIcon />}
        title={id ? 'Conversation' : 'No conversations yet'}
        description={id ? 'This conversation will appear here.' : 'Start a conversation to ask about your library.'}
      />
    </>
  );
}
