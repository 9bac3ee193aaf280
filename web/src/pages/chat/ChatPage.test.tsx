import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';

import { LiveContext } from '../../live/LiveContext';
import type { LiveSocket } from '../../live/socket';
import { apiError, mockApi } from '../../test/api';
import { renderWithProviders } from '../../test/render';
import ChatPage from './ChatPage';
import { detail, ev, fakeSocket, msg } from './testData';

const list = { conversations: [{ id: 'c1', title: 'Garden', provider: 'local', created_at: '2026-11-27T10:00:00Z', updated_at: '2026-11-27T10:00:00Z', messages: 2, answering: 'a1', position: 10 }] };
const providers = { providers: [{ id: 'local', name: 'This server', kind: 'local', model: 'smol', enabled: true }] };

function renderChat(path: string, socket = fakeSocket()) {
  const view = renderWithProviders(
    <LiveContext value={socket as unknown as LiveSocket}>
      <Routes>
        <Route path="/chat" element={<ChatPage />} />
        <Route path="/chat/:id" element={<ChatPage />} />
      </Routes>
    </LiveContext>,
    { path },
  );
  return { ...view, socket };
}

describe('ChatPage', () => {
  it('continues an answer that was streaming before the reload, then stops it', async () => {
    const api = mockApi({
      'GET /api/conversations': () => list,
      'GET /api/providers': () => providers,
      'GET /api/conversations/{id}': () =>
        detail([msg({ text: 'Tell me about roses' }), msg({ id: 'a1', seq: 2, role: 'assistant', text: 'Roses ', status: 'streaming' })], 10),
      'POST /api/conversations/{id}/answers/{answer_id}/cancel': () => null,
    });
    const { socket } = renderChat('/chat/c1');
    const log = await screen.findByRole('log');
    expect(within(log).getByText('Tell me about roses')).toBeInTheDocument();
    expect(within(log).getByText('Roses')).toBeInTheDocument();
    // The socket replays what came after the snapshot.
    expect(socket.replays).toEqual([10]);
    act(() => {
      socket.emit(ev(9, 'conversation.answer_streamed', { answer_id: 'a1', seq: 1, delta: 'Roses ' }));
      socket.emit(ev(11, 'conversation.answer_streamed', { answer_id: 'a1', seq: 2, delta: 'are red.' }));
    });
    expect(within(log).getByText('Roses are red.')).toBeInTheDocument();
    expect(log).toHaveAttribute('aria-busy', 'true');

    await userEvent.click(screen.getByRole('button', { name: 'Stop' }));
    await waitFor(() => expect(api.calls('POST /api/conversations/{id}/answers/{answer_id}/cancel')).toHaveLength(1));
    expect(api.calls('POST /api/conversations/{id}/answers/{answer_id}/cancel')[0]?.request.url).toContain('/api/conversations/c1/answers/a1/cancel');
    act(() => socket.emit(ev(12, 'conversation.answer_cancelled', { answer_id: 'a1', text: 'Roses are red.', by: 'u1' })));
    expect(await screen.findByText('Stopped')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^stop/i })).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Send' })).toBeInTheDocument();
  });

  it('sends with Enter, keeps Shift+Enter as a new line, and shows the model and tokens when done', async () => {
    const api = mockApi({
      'GET /api/conversations': () => list,
      'GET /api/providers': () => providers,
      'GET /api/conversations/{id}': () => detail([], 10),
      'POST /api/conversations/{id}/messages': () => ({ conversation_id: 'c1', message_id: 'm2', answer_id: 'a2' }),
    });
    const { socket } = renderChat('/chat/c1');
    const box = await screen.findByRole('textbox', { name: 'Message' });
    await userEvent.type(box, 'First line{Shift>}{Enter}{/Shift}second line');
    expect(box).toHaveValue('First line\nsecond line');
    await userEvent.type(box, '{Enter}');
    await waitFor(() => expect(api.calls('POST /api/conversations/{id}/messages')).toHaveLength(1));
    expect(api.calls('POST /api/conversations/{id}/messages')[0]?.body).toEqual({ text: 'First line\nsecond line', attachments: [] });
    expect(box).toHaveValue('');
    const log = screen.getByRole('log');
    expect(within(log).getByText(/First line/)).toBeInTheDocument();
    expect(await screen.findByRole('button', { name: 'Stop' })).toBeInTheDocument();
    act(() => {
      socket.emit(ev(11, 'conversation.message_posted', { message_id: 'm2', text: 'First line\nsecond line', attachments: [] }));
      socket.emit(ev(12, 'conversation.answer_started', { answer_id: 'a2', in_reply_to: 'm2', model: 'smol' }));
      socket.emit(ev(13, 'conversation.answer_streamed', { answer_id: 'a2', seq: 1, delta: 'Hello **there**' }));
      socket.emit(ev(14, 'conversation.answer_completed', { answer_id: 'a2', text: 'Hello **there**', model: 'smol', tokens_in: 12, tokens_out: 3, finish_reason: 'stop' }));
    });
    expect(within(log).getAllByRole('article')).toHaveLength(2);
    expect(within(log).getByText('there').tagName).toBe('STRONG');
    expect(screen.getByText(/smol · 12 in · 3 out tokens/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Stop' })).not.toBeInTheDocument();
    // Screen readers hear that it is done, once, instead of every piece.
    expect(screen.getAllByRole('status').map((s) => s.textContent)).toContain('Answer complete.');
  });

  it('says which limit a refused message hit and keeps the draft', async () => {
    mockApi({
      'GET /api/conversations': () => list,
      'GET /api/providers': () => providers,
      'GET /api/conversations/{id}': () => detail([], 10),
      'POST /api/conversations/{id}/messages': () => apiError(403, 'quota_exceeded', 'quota', 'processing_seconds_per_day'),
    });
    renderChat('/chat/c1');
    const box = await screen.findByRole('textbox', { name: 'Message' });
    await userEvent.type(box, 'Hello{Enter}');
    expect(await screen.findByRole('alert')).toHaveTextContent("You have used up today's processing time");
    expect(box).toHaveValue('Hello');
  });

  it('starts a conversation with the first message and an item attached from the library', async () => {
    const image = {
      id: 'i1',
      title: 'roses.png',
      modality: 'image',
      previews: { state: 'ready', images: [{ name: 'thumb-256', url: '/api/content/i1/previews/thumb-256', mime: 'image/webp', width: 256, height: 256 }] },
    };
    const api = mockApi({
      'GET /api/conversations': () => ({ conversations: [] }),
      'GET /api/providers': () => providers,
      'GET /api/content': () => ({ items: [image] }),
      'POST /api/conversations': () => ({ ...list.conversations[0], id: 'c2', title: 'What is this?', answering: null }),
      'POST /api/conversations/{id}/messages': () => ({ conversation_id: 'c2', message_id: 'm1', answer_id: 'a1' }),
      'GET /api/conversations/{id}': () => detail([], 100),
      'GET /api/content/{id}': () => image,
    });
    const { router } = renderChat('/chat');
    expect(await screen.findByText('No conversations yet. Ask your first question.')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Attach from library…' }));
    const picker = await screen.findByRole('dialog');
    await userEvent.click(await within(picker).findByText('roses.png'));
    await userEvent.click(within(picker).getByRole('button', { name: 'Attach' }));
    expect(screen.getByRole('button', { name: 'Remove roses.png' })).toBeInTheDocument();
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'What is this?');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/chat/c2'));
    expect(api.calls('POST /api/conversations')[0]?.body).toEqual({ title: 'What is this?', provider: 'local' });
    expect(api.calls('POST /api/conversations/{id}/messages')[0]?.body).toEqual({ text: 'What is this?', attachments: ['i1'] });
    const log = await screen.findByRole('log');
    expect(within(log).getByText('What is this?')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument();
  });

  it('uploads chosen files with the message as multipart form data', async () => {
    const api = mockApi({
      'GET /api/conversations': () => list,
      'GET /api/providers': () => providers,
      'GET /api/conversations/{id}': () => detail([], 10),
      'POST /api/conversations/{id}/messages': () => ({ conversation_id: 'c1', message_id: 'm2', answer_id: 'a2' }),
    });
    const { container } = renderChat('/chat/c1');
    await screen.findByRole('textbox', { name: 'Message' });
    const input = container.querySelector<HTMLInputElement>('input[type=file]');
    if (!input) throw new Error('no file input');
    await userEvent.upload(input, new File(['roses need water'], 'note.txt', { type: 'text/plain' }));
    const chips = screen.getByRole('list', { name: 'Attachments to send' });
    expect(within(chips).getByText('note.txt')).toBeInTheDocument();
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'Summarise this{Enter}');
    await waitFor(() => expect(api.calls('POST /api/conversations/{id}/messages')).toHaveLength(1));
    const sent = api.calls('POST /api/conversations/{id}/messages')[0];
    expect(sent?.request.headers.get('content-type')).toMatch(/^multipart\/form-data/);
    // (jsdom files reach undici as plain blobs, so only the part is checked, not its name.)
    expect(String(sent?.body)).toMatch(/name="file"/);
    expect(String(sent?.body)).toContain('Summarise this');
    expect(screen.queryByRole('list', { name: 'Attachments to send' })).not.toBeInTheDocument();
  });

  it('pages through older conversations and deletes one after confirming', async () => {
    const older = { ...list.conversations[0], id: 'c0', title: 'Old tomatoes', answering: null };
    const deleted = new Set<string>();
    const api = mockApi({
      'GET /api/conversations': ({ request }) =>
        new URL(request.url).searchParams.get('after') ? { conversations: [older].filter((c) => !deleted.has(c.id)) } : { ...list, next: 'cur1' },
      'GET /api/providers': () => providers,
      'DELETE /api/conversations/{id}': ({ params }) => {
        deleted.add(params.id ?? '');
        return null;
      },
    });
    renderChat('/chat');
    await userEvent.click(await screen.findByRole('button', { name: 'Show older conversations' }));
    expect(await screen.findByRole('link', { name: /Old tomatoes/ })).toHaveAttribute('href', '/chat/c0');
    expect(api.calls('GET /api/conversations')[1]?.request.url).toContain('after=cur1');
    await userEvent.click(screen.getByRole('button', { name: 'Delete “Old tomatoes”' }));
    await userEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(screen.queryByRole('link', { name: /Old tomatoes/ })).not.toBeInTheDocument());
    expect(api.calls('DELETE /api/conversations/{id}')[0]?.request.url).toMatch(/\/api\/conversations\/c0$/);
  });

  it('shows a clear state for a conversation that does not exist', async () => {
    mockApi({
      'GET /api/conversations': () => list,
      'GET /api/providers': () => providers,
      'GET /api/conversations/{id}': () => apiError(404, 'not_found'),
    });
    renderChat('/chat/nope');
    expect(await screen.findByText('Conversation not found')).toBeInTheDocument();
  });
});
