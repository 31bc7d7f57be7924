/**
 * The Ortto API as the connector uses it: every route is a POST with a JSON
 * body under a region's `/v1`, authenticated by `X-Api-Key`. Ortto reports
 * failures as `{"error": "…"}` (or, for 429, `{"error": {"try-in-seconds": N}}`),
 * which this file turns into our error codes.
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

export const ORTTO_REGIONS = ['rest', 'au', 'eu'] as const;
export type OrttoRegion = (typeof ORTTO_REGIONS)[number];

/** Each region has its own host, and a key only exists in its own region. */
export const ORTTO_API_URLS: Readonly<Record<OrttoRegion, string>> = {
  rest: 'https://api.ap3api.com/v1',
  au: 'https://api.au.ap3api.com/v1',
  eu: 'https://api.eu.ap3api.com/v1',
};

/**
 * The API URL a connection talks to. The registry hands us the definition's
 * default (the "rest of world" host) when no URL was configured, so that value
 * means "none given" and the region picks the host; any other URL wins.
 */
export function orttoApiUrl(configured: string | null, region: OrttoRegion): string {
  const explicit = configured?.trim().replace(/\/+$/, '');
  if (!explicit || explicit === ORTTO_API_URLS.rest) return ORTTO_API_URLS[region];
  return explicit;
}

export interface OrttoClient {
  /** POSTs `body` to `/v1/<route>` and returns the parsed JSON; throws AppError on any failure. */
  post(route: string, body: unknown, signal?: AbortSignal): Promise<unknown>;
}

export function createOrttoClient(http: HttpClient, apiUrl: string, apiKey: string): OrttoClient {
  return {
    async post(route, body, signal) {
      const response = await http.send({
        method: 'POST',
        url: `${apiUrl}/${route}`,
        headers: { 'x-api-key': apiKey },
        json: body,
        signal,
      });
      return readAnswer(response, route);
    },
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Ortto's own words for a failure: `error` as text, or the message inside an `error` object. */
function errorText(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  const { error } = body;
  if (typeof error === 'string' && error.trim() !== '') return error.trim();
  if (isRecord(error)) {
    if (typeof error.message === 'string' && error.message.trim() !== '')
      return error.message.trim();
    if (typeof error.code === 'string') return error.code;
  }
  return undefined;
}

/** The wait Ortto asks for on 429: `error["try-in-seconds"]`, else a Retry-After header. */
function orttoRetryAfterMs(response: HttpResponse): number | undefined {
  const body = parseJson(response.text);
  const seconds =
    isRecord(body) && isRecord(body.error) ? Number(body.error['try-in-seconds']) : Number.NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  return retryAfterMs(response.headers);
}

/** The parsed body of a successful answer, or the AppError its status and body call for. */
export function readAnswer(response: HttpResponse, route: string): unknown {
  const body = parseJson(response.text);
  const ok = response.status >= 200 && response.status < 300;
  const text = errorText(body);
  if (ok && text === undefined) return body;
  const message = `${route}: ${text ?? (bodyExcerpt(response.text) || 'no details')}`;
  // WP Fusion treats any body carrying `error` as a failure; so do we, even with a 2xx status.
  if (ok) throw new AppError('CRM_REJECTED', message);
  if (response.status === 429) {
    throw new AppError('CRM_RATE_LIMITED', message, { retryAfterMs: orttoRetryAfterMs(response) });
  }
  // Ortto routes are fixed paths: a 404 means a wrong API URL, not an unknown person.
  if (response.status === 404)
    throw new AppError('CRM_REJECTED', `404 ${message} (check the connection's API URL)`);
  throw errorForStatus(response, message);
}
