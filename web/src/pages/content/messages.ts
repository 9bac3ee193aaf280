import { ApiError, errorMessage, wordsFor, type ErrorCode } from '../../api/errors';

/** Plain words for the codes the content and generate endpoints answer with. */
const WORDS: Partial<Record<ErrorCode, string>> = {
  not_found: 'This item no longer exists.',
  analysis_pending: 'This item is still being analysed. Try again when processing has finished.',
  no_speech: 'No speech was found in this recording.',
  nothing_to_summarise: 'There is nothing in this item to summarise yet.',
  unsupported_source: 'This kind of item cannot be used for that.',
  quota_exceeded: 'You have reached your quota for this. Free some space or ask an administrator for more.',
  model_busy: 'The model is busy right now. Try again in a moment.',
  model_unavailable: 'The model is not available on this server right now.',
  restore_expired: 'This item stayed in the trash too long and can no longer be restored.',
  validation_failed: '',
};

/** A sentence for a failed content action: our words for known codes, else the server's. */
export function contentError(err: unknown): string {
  if (err instanceof ApiError) {
    const words = wordsFor(WORDS, err.code);
    if (words) return words;
  }
  return errorMessage(err);
}
