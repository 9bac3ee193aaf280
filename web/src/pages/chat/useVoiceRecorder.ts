import { useCallback, useEffect, useRef, useState } from 'react';

// A file of its own under /assets, never inlined as a data: URL: the server's CSP
// (script-src 'self') would refuse that module.
import captureWorkletUrl from './pcm-capture.worklet.js?url&no-inline';
import { Downsampler, encodeWav, VOICE_SAMPLE_RATE } from './wav';

/** A voice message stops on its own after this long. */
export const MAX_RECORDING_SECONDS = 5 * 60;

type AudioContextClass = typeof AudioContext;

function audioContextClass(): AudioContextClass | undefined {
  if (typeof window === 'undefined') return undefined;
  return window.AudioContext ?? (window as unknown as { webkitAudioContext?: AudioContextClass }).webkitAudioContext;
}

/** Whether this browser can record a voice message (a microphone API and Web Audio). */
export function canRecordVoice(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getUserMedia === 'function' && audioContextClass() !== undefined;
}

/** `voice-message-2026-11-27-10-15-03.wav`, in local time. */
export function voiceMessageName(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())}-${p(at.getHours())}-${p(at.getMinutes())}-${p(at.getSeconds())}`;
  return `voice-message-${stamp}.wav`;
}

/** What went wrong when the microphone could not be opened, in words for the user. */
export function microphoneError(err: unknown): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return "Microphone access was refused. Allow it in the browser's site settings to record.";
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found. Connect one to record a voice message.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The microphone could not be opened (another app may be using it).';
    default:
      return 'Could not start recording.';
  }
}

/** One recording in progress: the microphone, the audio graph and what was captured. */
interface Session {
  stream: MediaStream;
  context: AudioContext;
  source: MediaStreamAudioSourceNode;
  capture: AudioWorkletNode | ScriptProcessorNode;
  sink: GainNode;
  downsampler: Downsampler;
  chunks: Float32Array[];
  startedAt: Date;
  timer: ReturnType<typeof setInterval>;
  limit: ReturnType<typeof setTimeout>;
}

function release(s: Session) {
  clearInterval(s.timer);
  clearTimeout(s.limit);
  if ('port' in s.capture) s.capture.port.onmessage = null;
  else s.capture.onaudioprocess = null;
  s.source.disconnect();
  s.capture.disconnect();
  s.sink.disconnect();
  s.stream.getTracks().forEach((t) => t.stop());
  void s.context.close().catch(() => undefined);
}

/** Asks the worklet for what it still holds; resolves once it has come (or after a moment). */
function flush(capture: AudioWorkletNode | ScriptProcessorNode): Promise<void> {
  if (!('port' in capture)) return Promise.resolve();
  const port = capture.port;
  return new Promise((resolve) => {
    const done = setTimeout(resolve, 250);
    port.addEventListener('message', (e: MessageEvent) => {
      if (e.data === 'flushed') {
        clearTimeout(done);
        resolve();
      }
    });
    port.postMessage('flush');
  });
}

export type RecorderState = 'idle' | 'starting' | 'recording' | 'finishing';

/**
 * Records a voice message from the microphone as a 16 kHz mono 16-bit WAV file (PCM captured
 * with an AudioWorklet, downsampled and encoded here: the server refuses audio-only WebM, which
 * is what MediaRecorder makes). `finish` hands the file to `onDone`; `cancel` discards it.
 */
export function useVoiceRecorder(onDone: (file: File) => void, onError: (message: string) => void) {
  const [state, setState] = useState<RecorderState>('idle');
  const [elapsed, setElapsed] = useState(0);
  /** The input's loudness, 0…1 (peak, decaying). */
  const [level, setLevel] = useState(0);
  const session = useRef<Session | null>(null);
  /** Bumped by every start, cancel and unmount: a start that was overtaken gives up. */
  const generation = useRef(0);
  const callbacks = useRef({ onDone, onError });
  useEffect(() => {
    callbacks.current = { onDone, onError };
  });

  const take = useCallback((samples: Float32Array) => {
    const s = session.current;
    if (!s) return;
    let peak = 0;
    for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i] ?? 0));
    setLevel((prev) => Math.min(1, Math.max(peak, prev * 0.8)));
    const out = s.downsampler.push(samples);
    if (out.length) s.chunks.push(out);
  }, []);

  const cancel = useCallback(() => {
    generation.current++;
    const s = session.current;
    session.current = null;
    if (s) release(s);
    setState('idle');
    setLevel(0);
  }, []);

  const finish = useCallback(async () => {
    const s = session.current;
    if (!s) return;
    setState('finishing');
    await flush(s.capture);
    if (session.current !== s) return; // cancelled meanwhile
    session.current = null;
    release(s);
    setState('idle');
    setLevel(0);
    const frames = s.chunks.reduce((n, c) => n + c.length, 0);
    if (frames === 0) {
      callbacks.current.onError('Nothing was recorded: the microphone sent no sound.');
      return;
    }
    const wav = encodeWav(s.chunks, s.downsampler.rate);
    callbacks.current.onDone(new File([wav], voiceMessageName(s.startedAt), { type: 'audio/wav' }));
  }, []);

  const start = useCallback(async () => {
    if (session.current || state !== 'idle') return;
    const Context = audioContextClass();
    if (!Context) return;
    const mine = ++generation.current;
    setState('starting');
    let stream: MediaStream | null = null;
    let context: AudioContext | null = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
      if (generation.current !== mine) throw new DOMException('cancelled', 'AbortError');
      context = new Context();
      if (context.state === 'suspended') await context.resume();
      const source = context.createMediaStreamSource(stream);
      let capture: AudioWorkletNode | ScriptProcessorNode;
      try {
        await context.audioWorklet.addModule(captureWorkletUrl);
        const node = new AudioWorkletNode(context, 'tessera-pcm-capture', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
        node.port.onmessage = (e: MessageEvent) => {
          if (e.data instanceof Float32Array) take(e.data);
        };
        capture = node;
      } catch {
        // No AudioWorklet (or its module would not load): the older, main-thread processor.
        const node = context.createScriptProcessor(4096, 1, 1);
        node.onaudioprocess = (e) => take(new Float32Array(e.inputBuffer.getChannelData(0)));
        capture = node;
      }
      if (generation.current !== mine) throw new DOMException('cancelled', 'AbortError');
      // The graph runs only when it reaches the speakers: through a silent gain.
      const sink = context.createGain();
      sink.gain.value = 0;
      source.connect(capture);
      capture.connect(sink);
      sink.connect(context.destination);
      const startedAt = new Date();
      session.current = {
        stream,
        context,
        source,
        capture,
        sink,
        downsampler: new Downsampler(context.sampleRate, VOICE_SAMPLE_RATE),
        chunks: [],
        startedAt,
        timer: setInterval(() => setElapsed(Math.floor((Date.now() - startedAt.getTime()) / 1000)), 250),
        limit: setTimeout(() => void finish(), MAX_RECORDING_SECONDS * 1000),
      };
      setElapsed(0);
      setLevel(0);
      setState('recording');
    } catch (err) {
      stream?.getTracks().forEach((t) => t.stop());
      void context?.close().catch(() => undefined);
      if (generation.current !== mine) return; // cancelled or unmounted meanwhile
      setState('idle');
      callbacks.current.onError(microphoneError(err));
    }
  }, [state, take, finish]);

  // Leaving the page stops the microphone and drops the recording.
  useEffect(
    () => () => {
      generation.current++;
      const s = session.current;
      session.current = null;
      if (s) release(s);
    },
    [],
  );

  return { state, recording: state === 'recording' || state === 'finishing', busy: state !== 'idle', elapsed, level, start, finish, cancel };
}
