import { describe, expect, it } from 'vitest';

import spec from '../../openapi.json';
import { ERROR_MESSAGES } from './errorMessages';

/** The `ErrorCode` enum as the API description publishes it. */
function publishedCodes(): string[] {
  const schema = (spec as { components: { schemas: Record<string, { enum?: unknown[] }> } }).components.schemas
    .ErrorCode;
  return (schema?.enum ?? []).filter((c): c is string => typeof c === 'string');
}

describe('ERROR_MESSAGES', () => {
  it('has words for every code in the API description', () => {
    const codes = publishedCodes();
    expect(codes.length).toBeGreaterThan(100);
    const messages: Record<string, string | undefined> = ERROR_MESSAGES;
    const without = codes.filter((code) => !messages[code]?.trim());
    expect(without).toEqual([]);
  });

  it('names no code the API does not have', () => {
    const codes = new Set(publishedCodes());
    expect(Object.keys(ERROR_MESSAGES).filter((code) => !codes.has(code))).toEqual([]);
  });
});
