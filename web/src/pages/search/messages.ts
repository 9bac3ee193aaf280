import { ApiError, errorMessage, wordsFor, type ErrorCode } from '../../api/errors';

/** Plain words for the codes `GET /api/search` answers with. */
const WORDS: Partial<Record<ErrorCode, string>> = {
  invalid_cursor: 'The results changed since they were shown. Search again to see more.',
  model_unavailable: 'Searching by meaning is not available on this server right now. You can still search by words.',
  forbidden: 'You do not have access to this search.',
};

/** What a filter is called on the page, for a refused one (`error.field`). */
const FIELDS: Record<string, string> = {
  modality: 'type',
  tag: 'tag',
  from: 'from date',
  to: 'to date',
  item: 'item',
  ranking: 'ranking',
};

/** A sentence for a failed search: our words for known codes, else the server's. */
export function searchError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.is('invalid_query')) {
      if (!err.field || err.field === 'q') return 'Type something to look for, up to 500 characters.';
      const name = FIELDS[err.field];
      if (name) return `The ${name} filter is not valid. Change it or remove it, then search again.`;
    }
    const words = wordsFor(WORDS, err.code);
    if (words) return words;
  }
  return errorMessage(err);
}
