/** Plain words for the admin endpoints' stable error codes; anything else falls back to `errorMessage`. */
import { ApiError, errorMessage, wordsFor, type ErrorCode } from '../../api/errors';

const ADMIN_MESSAGES: Partial<Record<ErrorCode, string>> = {
  last_admin: 'You are the last administrator. Make someone else an admin first.',
  model_busy: 'The model is answering requests right now. Try again when it is idle.',
  model_not_installed: 'The model is not installed on this server. Install it with `tessera models install`, then try again.',
  rebuild_in_progress: 'A rebuild of this projection is already running.',
  dead_letter_resolved: 'That event was already applied or skipped.',
  validation_failed: 'Some values are not valid.',
};

/** A sentence for an admin action's failure. */
export function adminErrorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const friendly = wordsFor(ADMIN_MESSAGES, err.code);
    if (err.is('model_unavailable')) return `The model could not be loaded: ${err.message}`;
    if (friendly && !err.is('validation_failed')) return friendly;
    if (err.is('not_found')) return 'Not found. It may have been removed; refresh the page.';
  }
  return errorMessage(err);
}
