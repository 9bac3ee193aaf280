import { codeIs, errorMessage, isApiError, wordsFor, type ClientErrorCode } from '../../api/errors';

const LIMITS: Record<string, string> = {
  uploads_per_day: 'You have reached your daily upload limit (uploads per day). Try again tomorrow or ask an administrator for a higher quota.',
  storage_bytes: 'Not enough storage left in your quota for this file. Delete items from the Trash for good, or ask an administrator for more.',
};

const UPLOAD: Partial<Record<ClientErrorCode, string>> = {
  file_too_large: 'This file is larger than this server accepts.',
  text_too_large: 'This text is longer than this server accepts.',
  unsupported_type: 'This kind of file is not supported. Upload text, images, audio or video.',
  corrupt_image: 'This image seems damaged: it could not be read.',
  corrupt_audio: 'This audio file seems damaged: it could not be read.',
  corrupt_video: 'This video seems damaged: it could not be read.',
  invalid_text: 'This text file could not be read as text (UTF-8).',
  image_too_large: 'This image has more pixels than this server accepts.',
  audio_too_long: 'This recording is longer than this server accepts.',
  video_too_long: 'This video is longer than this server accepts.',
  empty_file: 'This file is empty.',
  past_declared_length: 'The file changed while it was being sent. Try again.',
  upload_closed: 'This upload was closed by the server. Try again.',
  network_error: 'The connection dropped. Try again when you are back online.',
};

/** Plain words for an upload's failure, by the API's stable code. */
export function uploadErrorMessage(err: unknown): string {
  if (isApiError(err, 'quota_exceeded')) {
    return (err.field && LIMITS[err.field]) ?? `You have reached your quota${err.field ? ` (${err.field.replace(/_/g, ' ')})` : ''}.`;
  }
  return (isApiError(err) ? wordsFor(UPLOAD, err.code) : undefined) ?? errorMessage(err);
}

/** Why processing failed, in plain words, by the job's stable code. */
export function processingErrorMessage(code: string | null | undefined): string {
  if (!code) return 'Processing failed.';
  if (code.startsWith('corrupt_') || code.endsWith('_decode') || codeIs(code, 'decode_failed')) return 'The file could not be decoded.';
  if (codeIs(code, 'media_unavailable')) return 'The file was not available to the processor.';
  if (code.includes('timeout')) return 'Processing took too long.';
  return `Processing failed (${code.replace(/_/g, ' ')}).`;
}
