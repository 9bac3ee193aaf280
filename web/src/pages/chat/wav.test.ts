import { describe, expect, it } from 'vitest';

import { downsample, Downsampler, encodeWav, toInt16 } from './wav';

function text(view: DataView, offset: number, length: number) {
  return String.fromCharCode(...Array.from({ length }, (_, i) => view.getUint8(offset + i)));
}

describe('encodeWav', () => {
  it('writes a 16-bit PCM mono RIFF/WAVE header', () => {
    const buffer = encodeWav(new Float32Array(160), 16_000);
    const view = new DataView(buffer);
    expect(buffer.byteLength).toBe(44 + 320);
    expect(text(view, 0, 4)).toBe('RIFF');
    expect(view.getUint32(4, true)).toBe(36 + 320);
    expect(text(view, 8, 4)).toBe('WAVE');
    expect(text(view, 12, 4)).toBe('fmt ');
    expect(view.getUint32(16, true)).toBe(16);
    expect(view.getUint16(20, true)).toBe(1); // PCM
    expect(view.getUint16(22, true)).toBe(1); // mono
    expect(view.getUint32(24, true)).toBe(16_000);
    expect(view.getUint32(28, true)).toBe(32_000); // bytes per second
    expect(view.getUint16(32, true)).toBe(2); // block align
    expect(view.getUint16(34, true)).toBe(16); // bits per sample
    expect(text(view, 36, 4)).toBe('data');
    expect(view.getUint32(40, true)).toBe(320);
  });

  it('converts samples to little-endian 16-bit integers, clipping what is out of range', () => {
    const samples = [0, 0.5, -0.5, 1, -1, 1.7, -3, Number.NaN, 1e-6];
    const view = new DataView(encodeWav(new Float32Array(samples), 8_000));
    const written = samples.map((_, i) => view.getInt16(44 + 2 * i, true));
    expect(written).toEqual([0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 0]);
  });

  it('joins the chunks of a recording in order', () => {
    const view = new DataView(encodeWav([new Float32Array([0.25]), new Float32Array([]), new Float32Array([-0.25, 1])], 16_000));
    expect(view.getUint32(40, true)).toBe(6);
    expect([0, 1, 2].map((i) => view.getInt16(44 + 2 * i, true))).toEqual([8192, -8192, 32767]);
  });

  it('writes a header alone for no samples', () => {
    const view = new DataView(encodeWav([], 16_000));
    expect(view.byteLength).toBe(44);
    expect(view.getUint32(4, true)).toBe(36);
    expect(view.getUint32(40, true)).toBe(0);
  });
});

describe('toInt16', () => {
  it('maps the full scale to the 16-bit range', () => {
    expect(toInt16(1)).toBe(32767);
    expect(toInt16(-1)).toBe(-32768);
    expect(toInt16(Infinity)).toBe(32767);
    expect(toInt16(-Infinity)).toBe(-32768);
  });
});

describe('downsample', () => {
  it('averages 48 kHz down to 16 kHz', () => {
    const input = new Float32Array([0, 0.3, 0.6, 1, 1, 1, -1, -1, -1]);
    const out = downsample(input, 48_000, 16_000);
    expect(Array.from(out)).toEqual([expect.closeTo(0.3, 6), 1, -1]);
  });

  it('keeps the length in proportion for a rate that does not divide evenly', () => {
    const out = downsample(new Float32Array(44_100).fill(0.5), 44_100, 16_000);
    expect(out.length).toBe(16_000);
    expect(out.every((s) => Math.abs(s - 0.5) < 1e-6)).toBe(true);
  });

  it('gives the same result whether the input comes whole or in chunks', () => {
    const input = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i / 7));
    const whole = downsample(input, 44_100, 16_000);
    const d = new Downsampler(44_100, 16_000);
    const parts = [0, 128, 2048, 2049, 7000, 10_000].slice(1).map((end, i, ends) => d.push(input.subarray(i === 0 ? 0 : ends[i - 1], end)));
    const joined = Float32Array.from(parts.flatMap((p) => Array.from(p)));
    expect(joined).toEqual(whole);
  });

  it('passes samples through when the input rate is not above the output rate', () => {
    const d = new Downsampler(16_000, 16_000);
    expect(d.rate).toBe(16_000);
    expect(Array.from(d.push(new Float32Array([0.5, -0.5])))).toEqual([0.5, -0.5]);
    expect(new Downsampler(8_000, 16_000).rate).toBe(8_000);
  });
});
