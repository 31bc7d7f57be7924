/**
 * Talks to the Customerly REST API and reads its answers. Customerly wraps
 * every answer: `{"data": …}` on success, `{"error": {"message", "code"}}` on
 * failure, and the HTTP status is not always telling (a bad token comes back
 * as 500), so errors are classified by their message first.
 */
import { AppError } from '../../errors.js';
import {
  bodyExcerpt,
  errorForStatus,
  parseJson,
  retryAfterMs,
  type HttpClient,
  type HttpResponse,
} from '../http-client.js';

/** Texts Customerly uses for a missing, wrong or revoked access token. */
const AUTH_FAILURE = /access token not found|valid header authorization/i;
/** WP Fusion special-cases this text for an unknown user; so do we. */
const USER_MISSING = /user doesn.?t exist/i;

/** The message of Customerly's error envelope, if the body is one. */
function errorMessageOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || !('error' in body)) return undefined;
  const { error } = body;
  if (typeof error === 'string') return error;
  if (
    error !== null &&
    typeof error === 'object' &&
    'message' in error &&
    typeof error.message === 'string'
  ) {
    return error.message;
  }
  return error === undefined || error === null ? undefined : JSON.stringify(error);
}

/**
 * Reads an answer: the `data` member on success, else the error it stands for.
 * `what` names the call in messages ("user jane@example.com", "tags").
 */
function readAnswer(response: HttpResponse, what: string): unknown {
  const body = parseJson(response.text);
  const errorMessage = errorMessageOf(body);
  const message = `${what}: ${errorMessage ?? (bodyExcerpt(response.text) || `HTTP ${response.status}`)}`;
  const ok = response.status >= 200 && response.status < 300;

  if (errorMessage !== undefined && AUTH_FAILURE.test(errorMessage)) {
    // Customerly answers a bad token with 500: retrying would never help.
    throw new AppError('CRM_AUTH_FAILED', `${response.status} ${message}`);
  }
  if (errorMessage !== undefined && USER_MISSING.test(errorMessage)) {
    throw new AppError('CONTACT_NOT_FOUND', message);
  }
  if (response.status === 429) {
    // No documented limit or header; a Retry-After from a proxy in front of the API is still honoured.
    throw new AppError('CRM_RATE_LIMITED', message, {
      retryAfterMs: retryAfterMs(response.headers),
    });
  }
  if (response.status === 404) {
    // Not a missing user (that has its own message): most likely a wrong API URL.
    throw new AppError('CRM_REJECTED', `404 ${message} (check the API URL; it ends in /v1)`);
  }
  if (!ok) throw errorForStatus(response, message);
  // WP Fusion treats any body with `error` as a failure, whatever the status.
  if (errorMessage !== undefined) throw new AppError('CRM_REJECTED', message);
  if (body === null || typeof body !== 'object' || !('data' in body)) {
    throw new AppError(
      'CRM_REJECTED',
      `${what}: unexpected answer from Customerly: ${bodyExcerpt(response.text) || '(empty)'}`,
    );
  }
  return body.data;
}

export interface CustomerlyClient {
  get(path: string, what: string, signal?: AbortSignal): Promise<unknown>;
  post(path: string, json: unknown, what: string, signal?: AbortSignal): Promise<unknown>;
}

/** A client for one connection: base URL and Bearer token applied to every call. */
export function createCustomerlyClient(
  http: HttpClient,
  apiUrl: string,
  accessToken: string,
): CustomerlyClient {
  const base = apiUrl.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${accessToken}` };
  return {
    async get(path, what, signal) {
      return readAnswer(
        await http.send({ method: 'GET', url: base + path, headers, signal }),
        what,
      );
    },
    async post(path, json, what, signal) {
      return readAnswer(
        await http.send({ method: 'POST', url: base + path, headers, json, signal }),
        what,
      );
    },
  };
}
