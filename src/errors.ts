/**
 * Every error the service reports, in one place: its HTTP status (when it
 * answers a request), whether the worker should retry it, and its message.
 */
export const ERRORS = {
  // Webhook intake
  NO_ACTION: {
    status: 400,
    retryable: false,
    message: 'No action specified: add wpf_action=update_tags, update, add or test',
  },
  UNKNOWN_ACTION: { status: 400, retryable: false, message: 'Unknown wpf_action' },
  MALFORMED_BODY: {
    status: 400,
    retryable: false,
    message: 'The request body could not be parsed',
  },
  BODY_TOO_DEEP: { status: 400, retryable: false, message: 'The request body nests too deeply' },
  BAD_ACCESS_KEY: { status: 403, retryable: false, message: 'Invalid access key' },
  BODY_TOO_LARGE: { status: 413, retryable: false, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, message: 'Unsupported content type' },
  NO_CONTACT_ID: { status: 400, retryable: false, message: 'No contact id found in the request' },
  UNSUBSTITUTED_MERGE_FIELD: {
    status: 400,
    retryable: false,
    message: 'The contact id is an unfilled merge field; the CRM did not substitute it',
  },
  TOO_MANY_TAGS: {
    status: 400,
    retryable: false,
    message: 'The webhook carries more tags than one contact can have',
  },
  UNKNOWN_CONNECTION: { status: 404, retryable: false, message: 'No such CRM connection' },
  AMBIGUOUS_CONNECTION: {
    status: 400,
    retryable: false,
    message: 'Several CRM connections exist and the webhook names none of them',
  },
  TOO_MANY_KEY_FAILURES: {
    status: 429,
    retryable: false,
    message: 'Too many failed access key attempts; try again later',
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    message: 'Storage is unavailable; please retry',
  },

  // Processing
  CONTACT_HAS_NO_EMAIL: {
    status: 422,
    retryable: false,
    message: 'The contact has no e-mail address, so no user can be created',
  },
  INVALID_EMAIL: {
    status: 422,
    retryable: false,
    message: 'The contact e-mail address is not valid',
  },
  CONTACT_NOT_FOUND: {
    status: 422,
    retryable: false,
    message: 'The contact was not found in the CRM',
  },
  CRM_AUTH_FAILED: { status: 422, retryable: false, message: 'The CRM rejected the credentials' },
  CRM_REJECTED: { status: 422, retryable: false, message: 'The CRM rejected the request' },
  CRM_TIMEOUT: { status: 502, retryable: true, message: 'The CRM did not answer in time' },
  CRM_UNAVAILABLE: {
    status: 502,
    retryable: true,
    message: 'The CRM answered with a server error',
  },
  CRM_RATE_LIMITED: { status: 502, retryable: true, message: 'The CRM rate limit was reached' },
  CRM_NETWORK: { status: 502, retryable: true, message: 'The CRM could not be reached' },
  CRM_REDIRECTED: {
    status: 422,
    retryable: false,
    message:
      'The CRM answered with a redirect, which is not followed (credentials would go with it); check the API URL',
  },
  CRM_RESPONSE_TOO_LARGE: {
    status: 422,
    retryable: false,
    message: 'The CRM answer is larger than the limit',
  },
  CRM_INSECURE_URL: {
    status: 422,
    retryable: false,
    message:
      'Credentials are not sent over plain http to a host other than this machine; use https, or set allow_insecure_http=true on the connection',
  },
  LOGIN_TAKEN: {
    status: 422,
    retryable: false,
    message: 'The username is already taken by another user',
  },
  EMAIL_TAKEN: {
    status: 422,
    retryable: false,
    message: 'The e-mail address belongs to another user',
  },
  USER_LINKED_TO_OTHER_CONTACT: {
    status: 422,
    retryable: false,
    message:
      'The user with the contact\u2019s e-mail is already linked to another contact of this connection',
  },
  ADMIN_NOT_LINKABLE: {
    status: 422,
    retryable: false,
    message:
      'The user with the contact\u2019s e-mail holds an admin role, which webhooks never link to a contact',
  },
  CONCURRENT_CHANGE: {
    status: 409,
    retryable: true,
    message: 'Another run changed the same user at the same time',
  },
  SEALED_VALUE_UNREADABLE: {
    status: 422,
    retryable: false,
    message: 'A secret stored with the webhook cannot be opened with this encryption key',
  },
  LEASE_LOST: {
    status: 409,
    retryable: false,
    message: 'The run lost its lease of the contact; nothing was written, the new holder runs it',
  },
  RETRIES_EXHAUSTED: {
    status: 422,
    retryable: false,
    message: 'Gave up after repeated transient failures',
  },
  INTERNAL: { status: 500, retryable: true, message: 'Internal error' },

  // Accounts and REST API
  INVALID_REQUEST: { status: 400, retryable: false, message: 'The request is not valid' },
  UNAUTHORIZED: {
    status: 401,
    retryable: false,
    message: 'A valid API token is required (Authorization: Bearer <token>)',
  },
  INVALID_CREDENTIALS: {
    status: 401,
    retryable: false,
    message: 'Unknown username or wrong password',
  },
  CSRF_FAILED: {
    status: 403,
    retryable: false,
    message: 'The form has expired; reload the page and try again',
  },
  USER_NOT_FOUND: { status: 404, retryable: false, message: 'No such user' },
  ADMIN_ONLY: {
    status: 403,
    retryable: false,
    message: 'Only users holding an admin role may open the admin area',
  },
  TOO_MANY_ATTEMPTS: {
    status: 429,
    retryable: false,
    message: 'Too many attempts; try again later',
  },

  // Administration
  NOT_FOUND: { status: 404, retryable: false, message: 'Not found' },
  INVALID_SETTING: { status: 400, retryable: false, message: 'Invalid setting value' },
  INVALID_CONFIG: { status: 400, retryable: false, message: 'Invalid configuration' },
  NOT_READY: {
    status: 503,
    retryable: true,
    message: 'Not ready: the database is unreachable or its schema is not current',
  },

  // Contact import
  IMPORT_UNSUPPORTED: {
    status: 422,
    retryable: false,
    message: 'This connection cannot list contacts, so it cannot import them',
  },
  UNKNOWN_TAG: { status: 404, retryable: false, message: 'The CRM has no such tag' },
  IMPORT_ALREADY_RUNNING: {
    status: 409,
    retryable: false,
    message: 'An import of the same contacts is already running',
  },
  IMPORT_ENDED: {
    status: 409,
    retryable: false,
    message: 'The import has already ended, so it cannot be cancelled',
  },
  INVALID_ACCESS_KEY: {
    status: 400,
    retryable: false,
    message: 'This text cannot be an access key',
  },
  IMPORT_SOURCE_UNREADABLE: {
    status: 400,
    retryable: false,
    message: 'The WordPress database could not be read',
  },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error carrying a registered code; `detail` adds context to the standard message. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Milliseconds the caller asked us to wait before retrying (Retry-After and the like). */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options?: { retryAfterMs?: number | undefined; cause?: unknown },
  ) {
    const entry = ERRORS[code];
    super(detail ? `${entry.message}: ${detail}` : entry.message, { cause: options?.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The JSON body of an error answer: the registered code and its message. */
export function errorBody(error: AppError): {
  status: 'error';
  error: { code: ErrorCode; message: string };
} {
  return { status: 'error', error: { code: error.code, message: error.message } };
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A unique-key violation from PostgreSQL (23505) or SQLite. */
function isUniqueViolation(error: unknown): boolean {
  const code = errorCodeOf(error);
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/** The `code` a database driver puts on its errors (SQLSTATE, `SQLITE_…`), or ''. */
export function errorCodeOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
}

/**
 * The database is away or cannot take writes right now, whatever the statement: PostgreSQL
 * restarting, failing over, refusing connections or cancelling a statement that ran too long;
 * the connection dropped; SQLite's file locked by another process past the busy timeout,
 * read-only, or its disk full or failing. The same statement succeeds once it is back.
 */
function isStorageUnavailable(error: unknown): boolean {
  const code = errorCodeOf(error);
  if (/^(08...|57P0[1-3]|53300|57014)$/.test(code)) return true;
  if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|FULL|CANTOPEN|PROTOCOL)/.test(code)) return true;
  if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code))
    return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i.test(
    message,
  );
}

/**
 * The database refused a value, not the connection: PostgreSQL's data exceptions (class 22, a NUL
 * in text), integrity violations (23) and limits (54); SQLite's constraint, size and type errors.
 * The same statement fails again however often it is retried.
 */
export function isRefusedData(error: unknown): boolean {
  const code = errorCodeOf(error);
  return (
    /^(22|23|54)[0-9A-Z]{3}$/.test(code) || /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/.test(code)
  );
}

/** A PostgreSQL deadlock (40P01) or serialization failure (40001): the transaction can simply run again. */
export function isTransactionConflict(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code === '40P01' || code === '40001';
}

/** Turns anything thrown into an AppError; unknown errors become retryable INTERNAL ones. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (isUniqueViolation(error))
    return new AppError('CONCURRENT_CHANGE', undefined, { cause: error });
  if (isStorageUnavailable(error))
    return new AppError('STORAGE_UNAVAILABLE', undefined, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new AppError('INTERNAL', message, { cause: error });
}
