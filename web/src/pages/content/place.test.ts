import { describe, expect, it } from 'vitest';

import { byteRangeToIndices, placeHref, readPlace, utf8OffsetToIndex } from './place';
import { paragraphs } from './TextViewer';

const ID = 'c1';

describe('deep links to a place in an item', () => {
  it('link each kind of place with its parameter', () => {
    expect(placeHref(ID, { type: 'time', start: 7.456, end: 9 })).toBe('/content/c1?t=7.46');
    expect(placeHref(ID, { type: 'keyframe', index: 3, time: 65 })).toBe('/content/c1?t=65');
    expect(placeHref(ID, { type: 'box', x: 40, y: 70.25, width: 360, height: 50 })).toBe('/content/c1?box=40,70.25,360,50');
    expect(placeHref(ID, { type: 'paragraph', start: 120, end: 348 })).toBe('/content/c1?para=120-348');
    expect(placeHref(ID, null)).toBe('/content/c1');
  });

  it('read back what they link, and ignore what is malformed', () => {
    expect(readPlace(new URLSearchParams('t=7.46&box=40,70.25,360,50&para=120-348'))).toEqual({
      t: 7.46,
      box: { x: 40, y: 70.25, width: 360, height: 50 },
      para: { start: 120, end: 348 },
    });
    expect(readPlace(new URLSearchParams('t=-1&box=1,2,3&para=9-3'))).toEqual({});
    expect(readPlace(new URLSearchParams('t=&box=1,2,0,4&para=a-b'))).toEqual({});
  });
});

describe('UTF-8 byte offsets to string indices', () => {
  // é: 2 bytes, 日: 3 bytes, 🌍: 4 bytes and two UTF-16 code units.
  const text = 'Café 日本 🌍 end';

  it('count each character by its UTF-8 length', () => {
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    for (const prefix of ['', 'C', 'Café', 'Café 日', 'Café 日本 ', 'Café 日本 🌍', text]) {
      expect(utf8OffsetToIndex(text, bytes(prefix))).toBe(prefix.length);
    }
    expect(text.slice(utf8OffsetToIndex(text, bytes('Café 日本 ')))).toBe('🌍 end');
  });

  it('round an offset inside a character down to its start, and clamp past the end', () => {
    expect(utf8OffsetToIndex(text, 4)).toBe(3); // inside é
    expect(utf8OffsetToIndex(text, new TextEncoder().encode('Café 日本 ').length + 2)).toBe('Café 日本 '.length); // inside 🌍
    expect(utf8OffsetToIndex(text, 10_000_000_000)).toBe(text.length);
    expect(byteRangeToIndices(text, { start: 6, end: 12 })).toEqual({ start: 5, end: 7 });
  });

  it('find the paragraphs of a text where they are, line breaks of any kind', () => {
    const text = '\nOne\r\nstill one\r\n\r\nTwo\n\n\nThree\n';
    expect(paragraphs(text)).toEqual([
      { text: 'One\nstill one', start: 1, end: 15 },
      { text: 'Two', start: 19, end: 22 },
      { text: 'Three', start: 25, end: 30 },
    ]);
  });
});
