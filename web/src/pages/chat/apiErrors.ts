import { ApiError, errorMessage, wordsFor, type ErrorCode } from '../../api/errors';

/** Plain words for a quota's name (`quota_exceeded` names it in `field`). */
const LIMITS: Record<string, string> = {
  processing_seconds_per_day: "today's processing time",
  uploads_per_day: "today's uploads",
  storage_bytes: 'your storage space',
};

/** Plain words for the codes chat and generation meet; anything else: the shared wording. */
const WORDS: Partial<Record<ErrorCode, string>> = {
  answer_in_progress: 'An answer is still being written. Wait for it or stop it first.',
  answer_not_active: 'That answer has already ended.',
  provider_disabled: 'This model has been turned off by an administrator. Choose another one.',
  unknown_provider: 'That model is not available on this server.',
  file_too_large: 'That file is too large to upload.',
  field_too_large: 'The message is too long.',
  unsupported_type: 'That kind of file is not supported.',
  empty_file: 'That file is empty.',
  unknown_voice: 'That voice is not available. Choose another one.',
  unknown_format: 'That audio format is not available.',
  empty_text: 'There is no text to read aloud.',
  text_too_long: 'The text is too long to read aloud in one go.',
  nothing_to_say: 'There is nothing in the text that can be spoken.',
  unsupported_source: 'This kind of item cannot be used for that.',
  analysis_pending: 'The item is still being analysed. Try again when it is ready.',
  no_speech: 'No speech was found in the recording.',
  nothing_to_summarise: 'There is nothing in this item to summarise yet.',
  model_busy: 'The model is busy right now. Try again in a moment.',
  model_unavailable: 'The model is not available on this server right now.',
  not_ready: 'It is still being recorded. Try again in a moment.',
  generation_failed: 'The server could not finish making it (it may be busy). Try again in a moment.',
};

/** A sentence for any error from the chat and generation calls. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'quota_exceeded') {
      const limit = err.field ? (LIMITS[err.field] ?? err.field.replaceAll('_', ' ')) : 'your quota';
      return `You have used up ${limit}. Ask an administrator to raise the limit, or try again tomorrow.`;
    }
    const words = wordsFor(WORDS, err.code);
    if (words) return words;
  }
  return errorMessage(err);
}

/** Why an answer failed (`conversation.answer_failed` codes), in plain words. */
const ANSWER_FAILURES: Partial<Record<ErrorCode, string>> = {
  provider_timeout: 'The model took too long to answer.',
  provider_unreachable: 'The model could not be reached.',
  provider_refused: 'The model provider refused the server’s key.',
  provider_rejected: 'The model provider rejected the request.',
  provider_rate_limited: 'The model provider is rate limiting requests. Try again shortly.',
  provider_model_not_found: 'The provider does not have the configured model.',
  provider_error: 'The model provider answered with an error.',
  answer_timeout: 'The answer took too long and was stopped.',
  answer_abandoned: 'The server writing this answer stopped before it finished.',
  context_unavailable: 'The attached items could not be read.',
  context_exceeded: 'The conversation is too long for the model. Start a new one.',
  model_busy: 'The model was busy. Try again in a moment.',
  model_unavailable: 'The model is not available right now.',
};

export function describeAnswerFailure(code: string | null | undefined, message: string | null | undefined): string {
  return wordsFor(ANSWER_FAILURES, code) || message || 'The answer failed.';
}
