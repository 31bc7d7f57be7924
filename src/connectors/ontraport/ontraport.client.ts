/**
 * The HTTP side of the Ontraport connector: the two auth headers, the
 * `{code, data, account_id}` envelope, and Ontraport's failures read into our
 * error codes. Every call goes through the injected client, so the
 * connection's timeout and rate limiter apply.
 */
import { AppError } from '../../errors.js';
import {
  bodyExcerpt,
  parseJson,
  retryAfterMs,
  type HttpClient,
  type HttpResponse,
} from '../http-client.js';

export interface OntraportCredentials {
  readonly appId: string;
  readonly apiKey: string;
}

/** What a failed call was about, which decides how a 404 or 400 reads. */
type CallScope = 'contact' | 'account';

interface OntraportCall {
  readonly method: 'GET' | 'PUT';
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly json?: unknown;
  /** Names the call in error messages, e.g. "contact 4711". */
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
  readonly scope: CallScope;
}

export interface OntraportClient {
  /** Sends a call and returns the envelope's `data`; throws AppError on any failure. */
  call(request: OntraportCall): Promise<unknown>;
  /** Sends a call and returns the raw response, for callers that give some statuses a meaning of their own. */
  send(request: OntraportCall): Promise<HttpResponse>;
  /** What `call` does with a response: the envelope's `data`, or the AppError for a failure. */
  read(response: HttpResponse, request: OntraportCall): unknown;
}

/** Ontraport's plain-text answer for a record that does not exist (404 today, 400 in older accounts). */
const NOT_FOUND_TEXT = /object not found/i;

export function createOntraportClient(
  http: HttpClient,
  baseUrl: string,
  credentials: OntraportCredentials,
): OntraportClient {
  const base = baseUrl.replace(/\/+$/, '');
  const headers = { 'Api-Appid': credentials.appId, 'Api-Key': credentials.apiKey };

  const send = (request: OntraportCall): Promise<HttpResponse> => {
    const query = request.query ? `?${new URLSearchParams(request.query).toString()}` : '';
    return http.send({
      method: request.method,
      url: `${base}${request.path}${query}`,
      headers,
      json: request.json,
      signal: request.signal,
    });
  };

  const read = (response: HttpResponse, request: OntraportCall): unknown => {
    if (response.status < 200 || response.status >= 300)
      throw failureOf(response, request.what, request.scope);
    return envelopeData(response, request.what);
  };

  return {
    send,
    read,
    async call(request) {
      return read(await send(request), request);
    },
  };
}

/** The `data` of a successful answer; a non-zero `code` or a body that is not the envelope is a rejection. */
function envelopeData(response: HttpResponse, what: string): unknown {
  const body = parseJson(response.text);
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('data' in body)) {
    throw new AppError(
      'CRM_REJECTED',
      `${what}: Ontraport answered ${response.status} without its usual JSON envelope (is the API URL right?): ${bodyExcerpt(response.text) || 'empty body'}`,
    );
  }
  const code = 'code' in body ? Number(body.code) : 0;
  if (code !== 0)
    throw new AppError(
      'CRM_REJECTED',
      `${what}: Ontraport answered code ${code}: ${messageOf(response)}`,
    );
  return body.data;
}

/** The CRM's own words from an error body: plain text, or the usual message keys of a JSON one. */
function messageOf(response: HttpResponse): string {
  const body = parseJson(response.text);
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    for (const key of ['message', 'error', 'detail', 'title', 'data'] as const) {
      const value: unknown = (body as Record<string, unknown>)[key];
      if (typeof value === 'string' && value.trim() !== '') return bodyExcerpt(value);
    }
  }
  return bodyExcerpt(response.text) || `HTTP ${response.status} with an empty body`;
}

/**
 * Reads X-Rate-Limit-Reset (seconds until the rolling window frees a slot),
 * Ontraport's only hint after a 429; Retry-After is honoured too should it
 * ever appear. A reset of 0 still waits a second: the window may not have
 * moved yet when the answer left Ontraport.
 */
function rateLimitWaitMs(headers: Headers): number | undefined {
  const reset = Number(headers.get('x-rate-limit-reset') ?? Number.NaN);
  if (Number.isFinite(reset) && reset >= 0) return Math.max(1, reset) * 1000;
  return retryAfterMs(headers);
}

/** Turns a non-2xx answer into the error code the worker acts on, with Ontraport's message. */
function failureOf(response: HttpResponse, what: string, scope: CallScope): AppError {
  const { status } = response;
  const message = messageOf(response);
  if (status === 401 || status === 403) {
    const hint =
      status === 401 ? 'check app_id and api_key' : 'the API key\u2019s owner lacks the permission';
    return new AppError('CRM_AUTH_FAILED', `${status} ${what}: ${message} (${hint})`);
  }
  if (
    scope === 'contact' &&
    (status === 404 || (status === 400 && NOT_FOUND_TEXT.test(response.text)))
  ) {
    return new AppError('CONTACT_NOT_FOUND', `${what}: Ontraport answered ${status} ${message}`);
  }
  if (status === 429) {
    return new AppError('CRM_RATE_LIMITED', `${what}: ${message}`, {
      retryAfterMs: rateLimitWaitMs(response.headers),
    });
  }
  if (status >= 500) return new AppError('CRM_UNAVAILABLE', `${status} ${what}: ${message}`);
  const hint = status === 404 ? ' (is the API URL right?)' : '';
  return new AppError('CRM_REJECTED', `${status} ${what}: ${message}${hint}`);
}
