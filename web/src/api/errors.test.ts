import { describe, expect, it } from 'vitest';

import { ApiError, errorMessage, wordsFor } from './errors';

function response(status: number, body: string, headers: Record<string, string> = {}) {
  return new Response(body, { status, headers });
}

describe('ApiError', () => {
  it('reads the server error body, its field and the Retry-After header', async () => {
    const res = response(
      422,
      JSON.stringify({ error: { code: 'validation_failed', message: 'must not be empty', request_id: 'req-1', field: 'name' } }),
      { 'Retry-After': '7' },
    );
    const err = await ApiError.fromResponse(res);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.code).toBe('validation_failed');
    expect(err.message).toBe('must not be empty');
    expect(err.requestId).toBe('req-1');
    expect(err.field).toBe('name');
    expect(err.fields).toEqual({ name: 'must not be empty' });
    expect(err.retryAfter).toBe(7);
  });

  it('copes with a body that is not the API shape (a proxy error page)', async () => {
    const err = await ApiError.fromResponse(response(502, '<html>Bad Gateway</html>', { 'x-request-id': 'r2' }));
    expect(err.code).toBe('http_502');
    expect(err.status).toBe(502);
    expect(err.requestId).toBe('r2');
  });

  it('says something useful to people', () => {
    const throttled = new ApiError({ status: 429, code: 'login_throttled', message: 'x', retryAfter: 30 });
    expect(errorMessage(throttled)).toBe('Too many attempts. Try again in 30 seconds.');
    const longer = new ApiError({ status: 429, code: 'login_throttled', message: 'x', retryAfter: 90 });
    expect(errorMessage(longer)).toBe('Too many attempts. Try again in 2 minutes.');
    expect(errorMessage(new ApiError({ status: 409, code: 'email_taken', message: 'taken' }))).toMatch(/already exists/);
    expect(errorMessage(new ApiError({ status: 400, code: 'some_new_code', message: 'Server words' }))).toBe('Server words');
    expect(errorMessage(ApiError.network(new TypeError('Failed to fetch')))).toMatch(/Cannot reach the server/);
  });

  it('falls back to the shared wording when the server sent no message', () => {
    expect(errorMessage(new ApiError({ status: 409, code: 'last_admin', message: '' }))).toMatch(/last administrator/);
  });
});

describe('wordsFor', () => {
  it('finds a code a map names, and nothing for others or for codes newer than the UI', () => {
    const map = { not_found: 'Gone.' };
    expect(wordsFor(map, 'not_found')).toBe('Gone.');
    expect(wordsFor(map, 'forbidden')).toBeUndefined();
    expect(wordsFor(map, 'a_code_from_the_future')).toBeUndefined();
    expect(wordsFor(map, 'constructor')).toBeUndefined();
    expect(wordsFor(map, null)).toBeUndefined();
  });
});
