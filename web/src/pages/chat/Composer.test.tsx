import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { renderWithProviders } from '../../test/render';
import { Composer, type Draft } from './Composer';

/** A fake Web Audio graph: the worklet node's port is how the test feeds samples. */
class FakePort {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  private listeners: ((e: { data: unknown }) => void)[] = [];
  addEventListener(_type: string, fn: (e: { data: unknown }) => void) {
    this.listeners.push(fn);
  }
  postMessage(message: unknown) {
    if (message === 'flush') queueMicrotask(() => this.listeners.forEach((l) => l({ data: 'flushed' })));
  }
  /** What the worklet would send: a block of samples at the context's rate. */
  send(samples: Float32Array) {
    this.onmessage?.({ data: samples });
  }
}

const nodes: FakeWorkletNode[] = [];
class FakeWorkletNode {
  port = new FakePort();
  constructor(
    _context: unknown,
    readonly name: string,
  ) {
    nodes.push(this);
  }
  connect() {}
  disconnect() {}
}

const contexts: FakeAudioContext[] = [];
class FakeAudioContext {
  sampleRate = 48_000;
  state = 'running';
  destination = {};
  audioWorklet = { addModule: vi.fn(async (_url: string) => undefined) };
  close = vi.fn(async () => undefined);
  constructor() {
    contexts.push(this);
  }
  resume = async () => undefined;
  createMediaStreamSource() {
    return { connect() {}, disconnect() {} };
  }
  createGain() {
    return { gain: { value: 1 }, connect() {}, disconnect() {} };
  }
}

function fakeStream() {
  const track = { stop: vi.fn() };
  return { track, stream: { getTracks: () => [track] } };
}

let getUserMedia: ReturnType<typeof vi.fn>;

beforeEach(() => {
  nodes.length = 0;
  contexts.length = 0;
  getUserMedia = vi.fn();
  Object.defineProperty(navigator, 'mediaDevices', { value: { getUserMedia }, configurable: true });
  vi.stubGlobal('AudioContext', FakeAudioContext);
  vi.stubGlobal('AudioWorkletNode', FakeWorkletNode);
});

afterEach(() => {
  Reflect.deleteProperty(navigator, 'mediaDevices');
});

function renderComposer(onSend = vi.fn(async (_draft: Draft) => undefined)) {
  renderWithProviders(<Composer onSend={onSend} answering={false} onStop={() => undefined} stopping={false} />);
  return { onSend };
}

async function startRecording() {
  const { track, stream } = fakeStream();
  getUserMedia.mockResolvedValue(stream);
  await userEvent.click(screen.getByRole('button', { name: 'Record a voice message' }));
  await screen.findByRole('button', { name: 'Finish recording' });
  const node = nodes.at(-1);
  const context = contexts.at(-1);
  if (!node || !context) throw new Error('no audio graph was built');
  return { track, port: node.port, context };
}

describe('Composer voice messages', () => {
  it('records 16 kHz mono WAV from an AudioWorklet and sends it as an attachment', async () => {
    const { onSend } = renderComposer();
    const { track, port, context } = await startRecording();
    expect(getUserMedia).toHaveBeenCalledWith({ audio: expect.anything() });
    expect(context.audioWorklet.addModule).toHaveBeenCalledWith(expect.stringMatching(/pcm-capture\.worklet\.js/));
    expect(nodes[0]?.name).toBe('tessera-pcm-capture');
    expect(screen.getByRole('timer', { name: 'Recording time' })).toHaveTextContent('0:00');
    expect(screen.getByRole('button', { name: 'Send' })).toBeDisabled();

    // Half a second at 48 kHz, full scale: the level shows it.
    act(() => port.send(new Float32Array(24_000).fill(0.5)));
    expect(screen.getByRole('meter', { name: 'Microphone level' })).toHaveAttribute('aria-valuenow', '50');

    await userEvent.click(screen.getByRole('button', { name: 'Finish recording' }));
    const chips = await screen.findByRole('list', { name: 'Attachments to send' });
    expect(within(chips).getByText(/^voice-message-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.wav$/)).toBeInTheDocument();
    expect(track.stop).toHaveBeenCalled();
    expect(context.close).toHaveBeenCalled();
    expect(screen.queryByRole('timer')).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(onSend).toHaveBeenCalledTimes(1));
    const file = onSend.mock.calls[0]?.[0].files[0];
    if (!file) throw new Error('no file was sent');
    expect(file.type).toBe('audio/wav');
    const view = new DataView(await file.arrayBuffer());
    expect(view.getUint32(24, true)).toBe(16_000);
    expect(view.getUint16(22, true)).toBe(1);
    // 24,000 samples at 48 kHz are 8,000 at 16 kHz.
    expect(view.getUint32(40, true)).toBe(16_000);
    expect(view.getInt16(44, true)).toBe(16384);
  });

  it('lets the recording be removed before sending', async () => {
    renderComposer();
    const { port } = await startRecording();
    act(() => port.send(new Float32Array(4800).fill(0.1)));
    await userEvent.click(screen.getByRole('button', { name: 'Finish recording' }));
    const name = (await screen.findByText(/^voice-message-.*\.wav$/)).textContent ?? '';
    await userEvent.click(screen.getByRole('button', { name: `Remove ${name}` }));
    expect(screen.queryByRole('list', { name: 'Attachments to send' })).not.toBeInTheDocument();
  });

  it('discards the recording on Escape and on Cancel, stopping the microphone', async () => {
    renderComposer();
    const first = await startRecording();
    act(() => first.port.send(new Float32Array(4800).fill(0.1)));
    await userEvent.keyboard('{Escape}');
    expect(screen.getByRole('button', { name: 'Record a voice message' })).toHaveFocus();
    expect(first.track.stop).toHaveBeenCalled();

    const second = await startRecording();
    act(() => second.port.send(new Float32Array(4800).fill(0.1)));
    await userEvent.click(screen.getByRole('button', { name: 'Cancel recording' }));
    expect(second.track.stop).toHaveBeenCalled();
    expect(screen.queryByRole('list', { name: 'Attachments to send' })).not.toBeInTheDocument();
  });

  it('stops on its own after five minutes', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      renderComposer();
      const { port, track } = await startRecording();
      act(() => port.send(new Float32Array(4800).fill(0.1)));
      await act(async () => {
        await vi.advanceTimersByTimeAsync(5 * 60 * 1000);
      });
      expect(await screen.findByText(/^voice-message-.*\.wav$/)).toBeInTheDocument();
      expect(track.stop).toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });

  it('says so when the microphone is refused or missing', async () => {
    renderComposer();
    getUserMedia.mockRejectedValueOnce(new DOMException('denied', 'NotAllowedError'));
    await userEvent.click(screen.getByRole('button', { name: 'Record a voice message' }));
    expect(await screen.findByText(/microphone access was refused/i)).toBeInTheDocument();

    getUserMedia.mockRejectedValueOnce(new DOMException('none', 'NotFoundError'));
    await userEvent.click(screen.getByRole('button', { name: 'Record a voice message' }));
    expect(await screen.findByText(/no microphone was found/i)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Record a voice message' })).toBeEnabled();
  });

  it('has no record button where the browser cannot record', () => {
    vi.stubGlobal('AudioContext', undefined);
    renderComposer();
    expect(screen.getByRole('button', { name: 'Upload files' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Record a voice message' })).not.toBeInTheDocument();
  });
});
