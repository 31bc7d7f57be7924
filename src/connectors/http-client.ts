/**
 * The HTTP client connectors use: fetch with a timeout on every call, an
 * optional gate (the connection's rate limiter) before each request, and a
 * classification of failures into retryable and permanent errors. Redirects
 * are not followed (they would carry the credentials elsewhere), answers are
 * read up to a size limit, and credentials go over plain http only to this
 * machine unless the connection allows it.
 */
import { AppError, isAppError } from '../errors.js';
import { runSignal } from '../lib/run-signal.js';
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

/** The largest CRM answer read into memory unless a connection says otherwise. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

export interface HttpClientOptions {
  readonly timeoutMs: number;
  /** The largest response body read, in bytes; default DEFAULT_MAX_RESPONSE_BYTES. */
  readonly maxResponseBytes?: number | undefined;
  /** Sends requests over plain http to hosts other than loopback (the connection's `allow_insecure_http`). */
  readonly allowInsecureHttp?: boolean | undefined;
  /** Awaited before every request (rate limiting); a function it returns is called once the request has finished. */
  readonly beforeRequest?: () => Promise<(() => void) | void>;
}

/** Loopback hosts, which browsers also treat as trustworthy over plain http. */
function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

/** True for an `http://` URL to a host that is not loopback: credentials sent there travel unencrypted. */
export function isInsecureHttpUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && !isLoopback(parsed.hostname);
}

/** Reads a body up to `limit` bytes; a longer one is cancelled and refused. */
async function readLimited(response: Response, limit: number, what: string): Promise<string> {
  const tooLarge = () =>
    new AppError('CRM_RESPONSE_TOO_LARGE', `${what}: more than ${limit} bytes`);
  const declared = Number(response.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return {
    async send(request) {
      const what = `${request.method} ${redactUrl(request.url)}`;
      if (!options.allowInsecureHttp && isInsecureHttpUrl(request.url)) {
        throw new AppError('CRM_INSECURE_URL', what);
      }
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
      // A run that lost its lease is aborted: its CRM calls end with it.
      const run = runSignal();
      run?.throwIfAborted();
      const finished = await options.beforeRequest?.();
      try {
        const response = await fetch(request.url, {
          method: request.method,
          headers,
          body: body ?? null,
          redirect: 'manual',
          signal: run
            ? AbortSignal.any([AbortSignal.timeout(timeoutMs), run])
            : AbortSignal.timeout(timeoutMs),
        });
        if (response.status >= 300 && response.status < 400) {
          await response.body?.cancel();
          const location = response.headers.get('location');
          throw new AppError(
            'CRM_REDIRECTED',
            `${what} answered ${response.status}${location && URL.canParse(location, request.url) ? ` to ${redactUrl(new URL(location, request.url).toString())}` : ''}`,
          );
        }
        return {
          status: response.status,
          headers: response.headers,
          text: await readLimited(response, maxResponseBytes, what),
        };
      } catch (error) {
        if (isAppError(error)) throw error;
        if (run?.aborted) throw run.reason;
        const name = error instanceof Error ? error.name : '';
        if (name === 'TimeoutError' || name === 'AbortError') {
          throw new AppError(
            'CRM_TIMEOUT',
            `${request.method} ${redactUrl(request.url)} after ${timeoutMs} ms`,
          );
        }
        const cause =
          error instanceof Error && error.cause instanceof Error
            ? error.cause.message
            : String(error);
        throw new AppError('CRM_NETWORK', `${request.method} ${redactUrl(request.url)}: ${cause}`, {
          cause: error,
        });
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
  if (status === 401 || status === 403)
    return new AppError('CRM_AUTH_FAILED', `${status} ${message}`);
  if (status === 404) return new AppError('CONTACT_NOT_FOUND', message);
  if (status === 429) {
    return new AppError('CRM_RATE_LIMITED', message, {
      retryAfterMs: retryAfterMs(response.headers),
    });
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
