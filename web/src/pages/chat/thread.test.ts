import { describe, expect, it } from 'vitest';

import { detail, ev, msg } from './testData';
import { addPosted, answering, applyEvent, fromSnapshot } from './thread';
import { rebase } from './useConversation';

describe('thread', () => {
  const streaming = msg({ id: 'a1', seq: 2, role: 'assistant', text: 'Roses ', status: 'streaming' });

  it('appends pieces after the snapshot exactly once, then completes with the final text', () => {
    let t = fromSnapshot(detail([msg({}), streaming], 10));
    expect(answering(t)?.id).toBe('a1');
    for (const e of [
      ev(9, 'conversation.answer_streamed', { answer_id: 'a1', seq: 1, delta: 'Roses ' }), // in the snapshot already
      ev(11, 'conversation.answer_streamed', { answer_id: 'a1', seq: 2, delta: 'are ' }),
      ev(11, 'conversation.answer_streamed', { answer_id: 'a1', seq: 2, delta: 'are ' }), // replayed twice
      ev(12, 'conversation.answer_streamed', { answer_id: 'a1', seq: 3, delta: 'red.' }),
    ]) {
      t = applyEvent(t, e);
    }
    expect(t.items[1]?.text).toBe('Roses are red.');
    t = applyEvent(t, ev(13, 'conversation.answer_completed', { answer_id: 'a1', text: 'Roses are red.', model: 'smol', tokens_in: 40, tokens_out: 4, finish_reason: 'stop' }));
    expect(t.items[1]).toMatchObject({ status: 'completed', model: 'smol', tokens_in: 40, tokens_out: 4 });
    expect(answering(t)).toBeUndefined();
    expect(t.position).toBe(13);
  });

  it('records how an answer ended when it was stopped or failed', () => {
    const t = fromSnapshot(detail([msg({}), streaming], 10));
    expect(applyEvent(t, ev(11, 'conversation.answer_cancelled', { answer_id: 'a1', text: 'Roses ' })).items[1]?.status).toBe('cancelled');
    const failed = applyEvent(t, ev(11, 'conversation.answer_failed', { answer_id: 'a1', text: '', code: 'provider_timeout', message: 'slow' }));
    expect(failed.items[1]).toMatchObject({ status: 'failed', error_code: 'provider_timeout', error: 'slow' });
  });

  it('merges a just-accepted message with its events instead of showing it twice', () => {
    let t = fromSnapshot(detail([], 5));
    t = addPosted(t, { message_id: 'm2', answer_id: 'a2' }, 'Tell me', ['i1']);
    expect(t.items.map((m) => [m.role, m.status])).toEqual([
      ['user', 'posted'],
      ['assistant', 'streaming'],
    ]);
    t = applyEvent(t, ev(6, 'conversation.message_posted', { message_id: 'm2', text: 'Tell me', attachments: ['i1'] }));
    t = applyEvent(t, ev(7, 'conversation.answer_started', { answer_id: 'a2', in_reply_to: 'm2', model: 'smol' }));
    t = applyEvent(t, ev(8, 'conversation.answer_streamed', { answer_id: 'a2', seq: 1, delta: 'Sure' }));
    expect(t.items).toHaveLength(2);
    expect(t.items[1]).toMatchObject({ text: 'Sure', model: 'smol', in_reply_to: 'm2' });
  });

  it('takes a newer snapshot, keeps messages it does not know yet, and ignores older ones', () => {
    const shown = addPosted(fromSnapshot(detail([msg({})], 20)), { message_id: 'm9', answer_id: 'a9' }, 'Next', []);
    expect(rebase(shown, detail([msg({ text: 'old' })], 15), [])).toBe(shown);
    const newer = rebase(shown, detail([msg({}), streaming], 25), []);
    expect(newer.items.map((m) => m.id)).toEqual(['m1', 'a1', 'm9', 'a9']);
    // Events that arrived before the first snapshot are folded in when newer than it.
    const first = rebase(null, detail([msg({}), streaming], 10), [
      ev(10, 'conversation.answer_streamed', { answer_id: 'a1', seq: 1, delta: 'Roses ' }),
      ev(11, 'conversation.answer_streamed', { answer_id: 'a1', seq: 2, delta: 'bloom' }),
    ]);
    expect(first.items[1]?.text).toBe('Roses bloom');
  });
});
