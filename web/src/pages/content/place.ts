/**
 * Deep links into an item, at the place a search hit was found. The content page reads them from
 * its address:
 *
 *   /content/:id?t=7.25            audio/video: the player seeks to 7.25 s once it is loaded
 *   /content/:id?box=40,70,360,50  image: that box (x,y,width,height in the image's own pixels)
 *                                  is drawn over the picture
 *   /content/:id?para=120-348      text: the paragraph holding those UTF-8 byte offsets of the
 *                                  text ([start, end), as the server counts them) is highlighted
 *                                  and scrolled into view
 *
 * A malformed value is ignored (the item opens as usual).
 */
import type { Schema } from '../../api/client';
import { formatClock } from './analysis';

/** Where a search hit is in its item (`Place` in the API). */
export type Place = Schema<'Place'>;

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A byte range of a text item's text, `[start, end)`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PlaceParams {
  t?: number;
  box?: Box;
  para?: ByteRange;
}

/** A number for an address: at most two decimals, no trailing zeros (`7`, `7.25`). */
function num(n: number): string {
  return String(Math.round(n * 100) / 100);
}

/** The content page's address for `id`, at `at` when the hit has a place. */
export function placeHref(id: string, at?: Place | null): string {
  const base = `/content/${id}`;
  if (!at) return base;
  switch (at.type) {
    case 'time':
      return `${base}?t=${num(at.start)}`;
    case 'keyframe':
      return `${base}?t=${num(at.time)}`;
    case 'box':
      return `${base}?box=${[at.x, at.y, at.width, at.height].map(num).join(',')}`;
    case 'paragraph':
      return `${base}?para=${Math.trunc(at.start)}-${Math.trunc(at.end)}`;
    default:
      return base;
  }
}

/** The place in an item's address (`t`, `box`, `para`), each only when well formed. */
export function readPlace(params: URLSearchParams): PlaceParams {
  const out: PlaceParams = {};
  const t = params.get('t');
  if (t != null && t.trim() !== '' && Number.isFinite(Number(t)) && Number(t) >= 0) out.t = Number(t);
  const box = params.get('box')?.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (box?.length === 4 && box.every(Number.isFinite)) {
    const [x, y, width, height] = box as [number, number, number, number];
    if (x >= 0 && y >= 0 && width > 0 && height > 0) out.box = { x, y, width, height };
  }
  const para = /^(\d+)-(\d+)$/.exec(params.get('para') ?? '');
  if (para) {
    const start = Number(para[1]);
    const end = Number(para[2]);
    if (end >= start) out.para = { start, end };
  }
  return out;
}

/**
 * The JS string index (UTF-16 code units) where the UTF-8 byte `offset` of `text` falls. An offset
 * inside a character counts as that character's start; one past the end is the text's length.
 */
export function utf8OffsetToIndex(text: string, offset: number): number {
  if (offset <= 0) return 0;
  // A UTF-16 code unit is at most 3 bytes of UTF-8: past that, the offset is past the end.
  if (offset >= text.length * 3) return text.length;
  // `encodeInto` writes whole characters only and says how much of the string it read.
  return new TextEncoder().encodeInto(text, new Uint8Array(offset)).read;
}

/** A byte range of `text` as string indices `[start, end)`. */
export function byteRangeToIndices(text: string, range: ByteRange): { start: number; end: number } {
  return { start: utf8OffsetToIndex(text, range.start), end: utf8OffsetToIndex(text, range.end) };
}

/** Where a hit is, in words: `0:07` in a recording, "in the picture", "paragraph". */
export function placeLabel(at: Place | null | undefined): string | undefined {
  switch (at?.type) {
    case 'time':
      return formatClock(at.start);
    case 'keyframe':
      return formatClock(at.time);
    case 'box':
      return 'in the picture';
    case 'paragraph':
      return 'paragraph';
    default:
      return undefined;
  }
}
