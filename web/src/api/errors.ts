import { ERROR_MESSAGES } from './errorMessages';
import type { components } from './schema';

/** Every code the server sends (`ErrorCode` in `web/openapi.json`). */
export type ErrorCode = components['schemas']['ErrorCode'];

/** A code the UI may meet: the server's, or `network_error` when the server could not be reached. */
export type ClientErrorCode = ErrorCode | 'network_error';

/** Whether `code` is one of `codes` (type-checked: a code that does not exist fails `tsc`). */
export function codeIs(code: string | null | undefined, ...codes: ClientErrorCode[]): boolean {
  return codes.some((c) => c === code);
}

/** The words `map` has for `code`, if any (none for a code newer than this UI). */
export function wordsFor(
  map: Partial<Record<ClientErrorCode, string>>,
  code: string | null | undefined,
): string | undefined {
  return code && Object.hasOwn(map, code) ? map[code as ClientErrorCode] : undefined;
}

/** The server's error body (src/error.rs): `{"error":{"code","message","request_id","field"}}`. */
export interface ErrorBody {
  error: {
    code: string;
    message: string;
    request_id?: string;
    field?: string;
  };
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const e = (value as { error: unknown }).error;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { message?: unknown }).message === 'string'
  );
}

/** An error from the API (or from reaching it). Branch on `code`, never on `message`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** Stable snake_case code, e.g. `invalid_credentials`, `email_taken`, `network_error`. */
  readonly code: string;
  readonly requestId: string | undefined;
  /** The offending field of a validation error, when the server named one. */
  readonly field: string | undefined;
  /** Messages by field name, for forms (`{[field]: message}`). */
  readonly fields: Readonly<Record<string, string>>;
  /** Seconds the server asked us to wait (`Retry-After`), if any. */
  readonly retryAfter: number | undefined;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    requestId?: string | undefined;
    field?: string | undefined;
    retryAfter?: number | undefined;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.field = init.field;
    this.fields = init.field ? { [init.field]: init.message } : {};
    this.retryAfter = init.retryAfter;
  }

  /** Builds the error from a response and its already-parsed (or raw text) body. */
  static fromBody(response: Response, body: unknown): ApiError {
    const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
    const requestId = response.headers.get('x-request-id') ?? undefined;
    if (isErrorBody(body)) {
      return new ApiError({
        status: response.status,
        code: body.error.code,
        message: body.error.message,
        requestId: body.error.request_id ?? requestId,
        field: body.error.field,
        retryAfter,
      });
    }
    return new ApiError({
      status: response.status,
      code: `http_${response.status}`,
      message: response.statusText || `The server answered ${response.status}`,
      requestId,
      retryAfter,
    });
  }

  /** Whether the error's code is one of `codes`. */
  is(...codes: ClientErrorCode[]): boolean {
    return codeIs(this.code, ...codes);
  }

  /** Reads the body of a failed response (for plain `fetch` calls: uploads, downloads). */
  static async fromResponse(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => '');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's HTML page, say): keep the generic error.
    }
    return ApiError.fromBody(response, body);
  }

  static network(cause: unknown): ApiError {
    const err = new ApiError({
      status: 0,
      code: 'network_error',
      message: 'Cannot reach the server. Check your connection and try again.',
    });
    (err as { cause?: unknown }).cause = cause;
    return err;
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** Friendlier words for codes people meet often; anything else shows the server's message. */
const FRIENDLY: Partial<Record<ClientErrorCode, string>> = {
  network_error: 'Cannot reach the server. Check your connection and try again.',
  invalid_credentials: 'That email and password do not match.',
  account_disabled: 'This account is disabled. Ask an administrator.',
  email_taken: 'An account with this email already exists.',
  registration_closed: 'Sign-ups are closed on this server. Ask an administrator for an account.',
  invalid_email: 'Enter a valid email address.',
  weak_password: 'Choose a password that is hard to guess: at least 10 characters, no common words, names, dates or keyboard patterns. A few unusual words work well.',
  internal_error: 'Something went wrong on our side. Try again in a moment.',
  forbidden: 'You do not have access to this.',
  not_found: 'Not found. It may have been deleted.',
  quota_exceeded: 'You have reached your quota.',
};

function waitHint(err: ApiError): string {
  if (err.retryAfter === undefined) return '';
  const s = err.retryAfter;
  const m = Math.ceil(s / 60);
  const wait = s < 60 ? `${s} second${s === 1 ? '' : 's'}` : `${m} minute${m === 1 ? '' : 's'}`;
  return ` Try again in ${wait}.`;
}

/** A sentence to show a person for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.is('login_throttled', 'registration_throttled', 'rate_limited')) {
      return `Too many attempts.${waitHint(err) || ' Try again later.'}`;
    }
    const words = wordsFor(FRIENDLY, err.code) ?? (err.message || wordsFor(ERROR_MESSAGES, err.code) || '');
    return words + (err.status === 429 ? '' : waitHint(err));
  }
  if (err instanceof Error && err.message) return err.message;
  return 'Something went wrong.';
}

export function isApiError(err: unknown, code?: ClientErrorCode): err is ApiError {
  return err instanceof ApiError && (code === undefined || err.code === code);
}
