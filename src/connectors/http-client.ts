/**
 * The HTTP client connectors use: fetch with a timeout on every call, an
 * optional gate (the connection's rate limiter) before each request, and a
 * classification of failures into retryable and permanent errors.
 */
import { AppError } from '../errors.js';
import { redactUrl } from '../lib/secrets.js';

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Sent as JSON when present. */
  readonly json?: unknown;
  /** Sent form-encoded when present. */
  readonly form?: Readonly<Record<string, string>> | undefined;
  readonly timeoutMs?: number | undefined;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

export interface HttpClient {
  /** Sends a request; network failures and timeouts throw AppErrors, HTTP statuses do not. */
  send(request: HttpRequest): Promise<HttpResponse>;
}

export interface HttpClientOptions {
  readonly timeoutMs: number;
  /** Awaited before every request (rate limiting); a function it returns is called once the request has finished. */
  readonly beforeRequest?: () => Promise<(() => void) | void>;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  return {
    async send(request) {
      const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
      let body: string | undefined;
      if (request.json !== undefined) {
        body = JSON.stringify(request.json);
        headers['content-type'] ??= 'application/json';
      } else if (request.form !== undefined) {
        body = new URLSearchParams(request.form).toString();
        headers['content-type'] ??= 'application/x-www-form-urlencoded';
      }
      const timeoutMs = request.timeoutMs ?? options.timeoutMs;
      const finished = await options.beforeRequest?.();
      try {
        const response = await fetch(request.url, {
          method: request.method,
          headers,
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        return { status: response.status, headers: response.headers, text: await response.text() };
      } catch (error) {
        const name = error instanceof Error ? error.name : '';
        if (name === 'TimeoutError' || name === 'AbortError') {
          throw new AppError('CRM_TIMEOUT', `${request.method} ${redactUrl(request.url)} after ${timeoutMs} ms`);
        }
        const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
        throw new AppError('CRM_NETWORK', `${request.method} ${redactUrl(request.url)}: ${cause}`, { cause: error });
      } finally {
        finished?.();
      }
    },
  };
}

/** Reads Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The common reading of a failed status: 401/403 bad credentials, 404 not
 * found, 429 rate limited, 5xx unavailable, other 4xx rejected. Connectors
 * handle their CRM's quirks before falling back to this.
 */
export function errorForStatus(response: HttpResponse, message: string): AppError {
  const { status } = response;
  if (status === 401 || status === 403) return new AppError('CRM_AUTH_FAILED', `${status} ${message}`);
  if (status === 404) return new AppError('CONTACT_NOT_FOUND', message);
  if (status === 429) {
    return new AppError('CRM_RATE_LIMITED', message, { retryAfterMs: retryAfterMs(response.headers) });
  }
  if (status >= 500) return new AppError('CRM_UNAVAILABLE', `${status} ${message}`);
  return new AppError('CRM_REJECTED', `${status} ${message}`);
}

/** Parses a JSON body, or returns undefined. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A short, single-line excerpt of a response body for error messages. */
export function bodyExcerpt(text: string, max = 300): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
