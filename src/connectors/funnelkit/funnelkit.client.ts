/**
 * The REST client for a WordPress site running FunnelKit Automations: URLs
 * for both permalink styles, the two route generations (`autonami-app/v3/…`
 * from the current plugin, unversioned `autonami-app/…` from Pro), HTTP
 * Basic auth with an application password, and the reading of WordPress and
 * FunnelKit errors into our error codes.
 */
import { Buffer } from 'node:buffer';
import { AppError } from '../../errors.js';
import {
  bodyExcerpt,
  parseJson,
  retryAfterMs,
  type HttpClient,
  type HttpResponse,
} from '../http-client.js';

export const ROUTE_MODES = ['auto', 'v3', 'legacy'] as const;
type RouteMode = (typeof ROUTE_MODES)[number];
type Generation = Exclude<RouteMode, 'auto'>;

const NAMESPACE = '/autonami-app/';
const PREFIX: Record<Generation, string> = { v3: 'v3/', legacy: '' };

/** WordPress core error codes that mean "these credentials do not get in". */
const AUTH_CODES = new Set([
  'incorrect_password',
  'invalid_username',
  'invalid_email',
  'rest_forbidden',
  'rest_not_logged_in',
  'application_passwords_disabled',
  'application_passwords_disabled_for_user',
]);

const PERMALINK_HINT =
  'the REST API was not found at /wp-json/; if the site uses plain permalinks, set pretty_permalinks=false';

export interface FunnelKitClientOptions {
  /** The site address, e.g. `https://crm-site.example` (a pasted `/wp-json/…` suffix is ignored). */
  readonly siteUrl: string;
  readonly username: string;
  readonly appPassword: string;
  readonly routes: RouteMode;
  readonly prettyPermalinks: boolean;
  readonly http: HttpClient;
}

/** FunnelKit's answer envelope: `{code, message, result, limit, offset, total_count}` or a WP_Error. */
export interface Envelope {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly result?: unknown;
  readonly total_count?: unknown;
  readonly data?: unknown;
}

export interface Answer {
  readonly response: HttpResponse;
  /** The parsed JSON object, when the body was one. */
  readonly body: Envelope | undefined;
}

interface CallOptions {
  readonly query?: Readonly<Record<string, string | number>> | undefined;
  readonly json?: unknown;
  readonly signal?: AbortSignal | undefined;
}

export interface FunnelKitClient {
  /**
   * Sends one API call and returns whatever the site answered. With
   * `routes: auto` a missing route (404 `rest_no_route`) is tried on the other
   * generation, and the one that answers is used first from then on.
   */
  send(method: 'GET' | 'POST', path: string, options?: CallOptions): Promise<Answer>;
  /** Like `send`, but a failure becomes an AppError; returns the success envelope. */
  call(
    method: 'GET' | 'POST',
    path: string,
    what: string,
    options?: CallOptions,
  ): Promise<Envelope>;
}

/** The site address without trailing slashes or a pasted REST suffix. */
function normalizeSiteUrl(apiUrl: string): string {
  return apiUrl
    .trim()
    .replace(/\/+$/, '')
    .replace(/\/wp-json(?:\/autonami-app(?:\/v3)?)?$/i, '')
    .replace(/\/+$/, '');
}

export function createFunnelKitClient(options: FunnelKitClientOptions): FunnelKitClient {
  const siteUrl = normalizeSiteUrl(options.siteUrl);
  const headers = {
    authorization: `Basic ${Buffer.from(`${options.username}:${options.appPassword}`, 'utf8').toString('base64')}`,
    'user-agent': 'crm-bridge (FunnelKit connector)',
  };
  // Only `auto` learns; a fixed mode always uses its own generation.
  let working: Generation | undefined = options.routes === 'auto' ? undefined : options.routes;

  const urlFor = (generation: Generation, path: string, query: CallOptions['query']): string => {
    const route = `${NAMESPACE}${PREFIX[generation]}${path}`;
    const search = new URLSearchParams(
      Object.entries(query ?? {}).map(([key, value]): [string, string] => [key, String(value)]),
    ).toString();
    if (options.prettyPermalinks) return `${siteUrl}/wp-json${route}${search ? `?${search}` : ''}`;
    // Slashes stay readable in `rest_route` (WordPress decodes either form).
    return `${siteUrl}/?rest_route=${encodeURI(route)}${search ? `&${search}` : ''}`;
  };

  const candidates = (): Generation[] => {
    if (options.routes !== 'auto') return [options.routes];
    const first = working ?? 'v3';
    return [first, first === 'v3' ? 'legacy' : 'v3'];
  };

  async function send(
    method: 'GET' | 'POST',
    path: string,
    call: CallOptions = {},
  ): Promise<Answer> {
    const tried: Generation[] = [];
    let last: Answer | undefined;
    for (const generation of candidates()) {
      const response = await options.http.send({
        method,
        url: urlFor(generation, path, call.query),
        headers,
        json: call.json,
        signal: call.signal,
      });
      last = { response, body: asEnvelope(response.text) };
      tried.push(generation);
      if (!isMissingRoute(last)) {
        if (options.routes === 'auto' && response.status >= 200 && response.status < 300)
          working = generation;
        return last;
      }
    }
    throw missingRouteError(method, path, tried, options.routes, last);
  }

  return {
    send,
    async call(method, path, what, call) {
      const answer = await send(method, path, call);
      if (isSuccess(answer)) return answer.body ?? {};
      throw errorForAnswer(answer, what);
    },
  };
}

/**
 * The JSON object of an answer. WordPress sites that display PHP notices put
 * them before the JSON (`<br /><b>Deprecated</b>: …{"code":200,…}`); the
 * JSON after them is still the answer.
 */
function asEnvelope(text: string): Envelope | undefined {
  const isObject = (value: unknown): value is Envelope =>
    value !== null && typeof value === 'object' && !Array.isArray(value);
  const parsed = parseJson(text);
  if (isObject(parsed)) return parsed;
  const start = text.indexOf('{"code":');
  if (parsed !== undefined || start <= 0) return undefined;
  const tail = parseJson(text.slice(start));
  return isObject(tail) ? tail : undefined;
}

function isMissingRoute(answer: Answer): boolean {
  return answer.response.status === 404 && answer.body?.code === 'rest_no_route';
}

/** A 2xx JSON answer whose own `code` (FunnelKit repeats the status there) is not an error. */
export function isSuccess(answer: Answer): boolean {
  const { status } = answer.response;
  if (status < 200 || status >= 300 || !answer.body) return false;
  return !(typeof answer.body.code === 'number' && answer.body.code >= 300);
}

/** The text FunnelKit or WordPress gave as the message of an answer. */
export function messageOf(answer: Answer): string {
  const message = answer.body?.message;
  return typeof message === 'string' && message.trim() !== ''
    ? message.trim()
    : bodyExcerpt(answer.response.text);
}

function missingRouteError(
  method: string,
  path: string,
  tried: Generation[],
  mode: RouteMode,
  last: Answer | undefined,
): AppError {
  const routes = tried
    .map((generation) => `${NAMESPACE.slice(1)}${PREFIX[generation]}${path}`)
    .join(' and ');
  const hint =
    mode === 'v3'
      ? 'this FunnelKit Automations has no v3 routes (older than 3.0?); set routes=auto or routes=legacy'
      : mode === 'legacy'
        ? 'the unversioned routes come from FunnelKit Automations Pro, which is not active; set routes=auto or routes=v3'
        : 'is FunnelKit Automations active on this site, and is the API URL the address of that site?';
  const message = last ? messageOf(last) : 'No route was found';
  return new AppError(
    'CRM_REJECTED',
    `${method} ${routes}: 404 ${message} (rest_no_route); ${hint}`,
  );
}

function looksLikeHtml(response: HttpResponse): boolean {
  const type = response.headers.get('content-type') ?? '';
  const start = response.text.trimStart().slice(0, 200).toLowerCase();
  return (
    type.includes('text/html') ||
    start.startsWith('<!doctype html') ||
    start.startsWith('<html') ||
    start.includes('<head')
  );
}

function htmlTitle(text: string): string {
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text)?.[1];
  return title ? bodyExcerpt(title, 80) : 'untitled page';
}

/** Turns a failed answer into an AppError carrying the site's own words (never the credentials). */
export function errorForAnswer(answer: Answer, what: string): AppError {
  const { response, body } = answer;
  const code = body?.code;
  // FunnelKit puts the real status in `code`; a 200 carrying an error code is that error.
  const status =
    response.status >= 200 && response.status < 300 && typeof code === 'number'
      ? code
      : response.status;

  const wait = retryAfterMs(response.headers);
  if (status === 429) {
    const detail = body
      ? messageOf(answer)
      : looksLikeHtml(response)
        ? htmlTitle(response.text)
        : bodyExcerpt(response.text);
    return new AppError('CRM_RATE_LIMITED', `${what}: 429 ${detail}`, { retryAfterMs: wait });
  }

  if (!body) {
    if (looksLikeHtml(response)) {
      const page = `HTTP ${status} with an HTML page ("${htmlTitle(response.text)}") instead of JSON`;
      if (status === 404)
        return new AppError('CRM_REJECTED', `${what}: ${page}; ${PERMALINK_HINT}`);
      if (status === 401) {
        return new AppError(
          'CRM_AUTH_FAILED',
          `${what}: ${page}; the web server asks for its own login before WordPress (HTTP auth on the site)`,
        );
      }
      if (status >= 500) {
        return new AppError(
          'CRM_UNAVAILABLE',
          `${what}: ${page}; the site is failing or in maintenance`,
          { retryAfterMs: wait },
        );
      }
      return new AppError(
        'CRM_UNAVAILABLE',
        `${what}: ${page}; a firewall or bot challenge (such as Cloudflare's) or a security plugin is blocking API requests — allow this server through for /wp-json/`,
      );
    }
    if (response.text.trim() === '' && status < 500) {
      return new AppError(
        'CRM_REJECTED',
        `${what}: HTTP ${status} with an empty answer; ${PERMALINK_HINT}`,
      );
    }
    const excerpt = bodyExcerpt(response.text) || 'no answer body';
    if (status >= 500 || (status >= 200 && status < 300)) {
      return new AppError('CRM_UNAVAILABLE', `${what}: HTTP ${status}: ${excerpt}`, {
        retryAfterMs: wait,
      });
    }
    if (status === 401 || status === 403)
      return new AppError('CRM_AUTH_FAILED', `${what}: ${status} ${excerpt}`);
    return new AppError('CRM_REJECTED', `${what}: HTTP ${status}: ${excerpt}`);
  }

  const message = messageOf(answer);
  const detail = typeof code === 'string' && code !== '' ? `${message} (${code})` : message;
  if (status === 401 || status === 403 || (typeof code === 'string' && AUTH_CODES.has(code))) {
    return new AppError('CRM_AUTH_FAILED', `${what}: ${status} ${detail}${authHint(status, code)}`);
  }
  if (status === 404) return new AppError('CONTACT_NOT_FOUND', `${what}: ${detail}`);
  if (status >= 500)
    return new AppError('CRM_UNAVAILABLE', `${what}: ${status} ${detail}`, { retryAfterMs: wait });
  return new AppError('CRM_REJECTED', `${what}: ${status} ${detail}`);
}

function authHint(status: number, code: unknown): string {
  if (code !== 'rest_forbidden') return '';
  return status === 401
    ? '; WordPress saw no credentials: the web server may be dropping the Authorization header (common with Apache and CGI/FastCGI PHP)'
    : '; the WordPress user needs access to FunnelKit Automations (use an administrator)';
}
