/**
 * Plain PCM audio helpers for voice messages: the server takes WAV (not the WebM/Opus that
 * `MediaRecorder` makes in Chromium), so the composer records raw samples and encodes them here.
 */

/** The rate voice messages are stored at: what the speech models work at. */
export const VOICE_SAMPLE_RATE = 16_000;

/** A float sample (nominally -1…1) as a signed 16-bit one, clipped; NaN is silence. */
export function toInt16(sample: number): number {
  if (Number.isNaN(sample)) return 0;
  const s = Math.max(-1, Math.min(1, sample));
  return s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
}

/**
 * A 16-bit PCM mono WAV file (RIFF/WAVE, a 44-byte header) of `samples` at `sampleRate`.
 * Takes one array or the chunks a recording collected, in order.
 */
export function encodeWav(samples: Float32Array | readonly Float32Array[], sampleRate: number): ArrayBuffer {
  const chunks = samples instanceof Float32Array ? [samples] : samples;
  const frames = chunks.reduce((n, c) => n + c.length, 0);
  const channels = 1;
  const bytesPerSample = 2;
  const dataBytes = frames * channels * bytesPerSample;
  const buffer = new ArrayBuffer(44 + dataBytes);
  const view = new DataView(buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true); // everything after this field
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true); // the fmt chunk's size for PCM
  view.setUint16(20, 1, true); // format: integer PCM
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * bytesPerSample, true); // bytes per second
  view.setUint16(32, channels * bytesPerSample, true); // block align
  view.setUint16(34, bytesPerSample * 8, true); // bits per sample
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++, offset += 2) view.setInt16(offset, toInt16(chunk[i] ?? 0), true);
  }
  return buffer;
}

/**
 * Lowers the sample rate of a stream that arrives in chunks (a recording), averaging the input
 * samples that fall in each output sample's span (a box filter: enough against aliasing for
 * speech). When the input rate is not above the output rate, samples pass through unchanged.
 */
export class Downsampler {
  readonly ratio: number;
  private sum = 0;
  private count = 0;
  /** Input samples seen so far, and where (in input samples) the next output one ends. */
  private seen = 0;
  private boundary: number;

  constructor(
    readonly inputRate: number,
    readonly outputRate: number,
  ) {
    this.ratio = inputRate / outputRate;
    this.boundary = this.ratio;
  }

  /** The rate of what `push` returns. */
  get rate(): number {
    return this.ratio > 1 ? this.outputRate : this.inputRate;
  }

  push(input: Float32Array): Float32Array {
    if (this.ratio <= 1) return input.slice();
    const out = new Float32Array(Math.ceil(input.length / this.ratio) + 1);
    let n = 0;
    for (let i = 0; i < input.length; i++) {
      this.sum += input[i] ?? 0;
      this.count++;
      this.seen++;
      if (this.seen >= this.boundary) {
        out[n++] = this.sum / this.count;
        this.sum = 0;
        this.count = 0;
        this.boundary += this.ratio;
      }
    }
    return out.slice(0, n);
  }
}

/** Downsamples a whole signal at once (see `Downsampler`). */
export function downsample(input: Float32Array, inputRate: number, outputRate: number): Float32Array {
  return new Downsampler(inputRate, outputRate).push(input);
}
