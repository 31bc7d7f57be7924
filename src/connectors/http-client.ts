/**
 * The HTTP client connectors use: node:http(s) with a timeout on every call, an
 * optional gate (the connection's rate limiter) before each request, and a
 * classification of failures into retryable and permanent errors. Redirects
 * are not followed (they would carry the credentials elsewhere), answers are
 * read up to a size limit, and credentials go over plain http only to this
 * machine unless the connection allows it.
 */
import http from 'node:http';
import https from 'node:https';
import { AppError, isAppError } from '../errors.js';
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
  /** Ends the call early (a run that lost its lease). */
  readonly signal?: AbortSignal | undefined;
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

/** Connections to CRMs are kept open between calls, as fetch did. */
const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

interface Exchange {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
  limit: number;
  what: string;
}

/**
 * One request over node:http(s), its answer read up to `limit` bytes (a longer one is cut off
 * and refused). Not fetch: its streams and objects cost a run more CPU than the rest of the call.
 */
function exchange(call: Exchange): Promise<HttpResponse> {
  const tooLarge = () =>
    new AppError('CRM_RESPONSE_TOO_LARGE', `${call.what}: more than ${call.limit} bytes`);
  const transport = call.url.protocol === 'https:' ? https : http;
  const agent = call.url.protocol === 'https:' ? agents['https:'] : agents['http:'];
  const headers: Record<string, string> = { 'user-agent': 'node', ...call.headers };
  if (call.body !== undefined) headers['content-length'] = String(Buffer.byteLength(call.body));
  return new Promise((resolve, reject) => {
    const request = transport.request(
      call.url,
      { method: call.method, headers, agent, signal: call.signal },
      (response) => {
        const status = response.statusCode ?? 0;
        const answer = new Headers();
        const raw = response.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) answer.append(raw[i] ?? '', raw[i + 1] ?? '');
        // A redirect is not followed (it would carry the credentials elsewhere): its body is not read.
        const declared = Number(answer.get('content-length') ?? '');
        if ((status >= 300 && status < 400) || declared > call.limit) {
          response.destroy();
          if (declared > call.limit && !(status >= 300 && status < 400)) reject(tooLarge());
          else resolve({ status, headers: answer, text: '' });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > call.limit) {
            response.destroy();
            reject(tooLarge());
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () =>
          resolve({ status, headers: answer, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
        response.on('close', () => {
          if (response.complete) return;
          const reason: unknown = call.signal.reason;
          reject(reason instanceof Error ? reason : new Error('the answer was cut off'));
        });
      },
    );
    request.on('error', reject);
    request.end(call.body);
  });
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
      const run = request.signal;
      run?.throwIfAborted();
      const finished = await options.beforeRequest?.();
      // One controller for the timeout and the run: AbortSignal.timeout and AbortSignal.any
      // cost a call several objects and listeners more.
      const abort = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, timeoutMs);
      const runAborted = () => abort.abort(run?.reason);
      run?.addEventListener('abort', runAborted, { once: true });
      try {
        // The run may have ended while the call waited for the rate limiter.
        run?.throwIfAborted();
        const response = await exchange({
          url: new URL(request.url),
          method: request.method,
          headers,
          body,
          signal: abort.signal,
          limit: maxResponseBytes,
          what,
        });
        if (response.status >= 300 && response.status < 400) {
          const location = response.headers.get('location');
          throw new AppError(
            'CRM_REDIRECTED',
            `${what} answered ${response.status}${location && URL.canParse(location, request.url) ? ` to ${redactUrl(new URL(location, request.url).toString())}` : ''}`,
          );
        }
        return response;
      } catch (error) {
        if (isAppError(error)) throw error;
        if (run?.aborted) throw run.reason;
        const name = error instanceof Error ? error.name : '';
        if (timedOut || name === 'TimeoutError' || name === 'AbortError') {
          throw new AppError(
            'CRM_TIMEOUT',
            `${request.method} ${redactUrl(request.url)} after ${timeoutMs} ms`,
          );
        }
        const cause =
          error instanceof Error
            ? error.cause instanceof Error
              ? error.cause.message
              : error.message
            : String(error);
        throw new AppError('CRM_NETWORK', `${request.method} ${redactUrl(request.url)}: ${cause}`, {
          cause: error,
        });
      } finally {
        clearTimeout(timer);
        run?.removeEventListener('abort', runAborted);
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
