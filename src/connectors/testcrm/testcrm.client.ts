/**
 * The test CRM's HTTP side: bearer token, JSON both ways, `{error}` bodies
 * read into our error codes by status.
 */
import {
  bodyExcerpt,
  errorForStatus,
  parseJson,
  type HttpClient,
  type HttpResponse,
} from '../http-client.js';

export interface TestCrmClient {
  /** GETs `path` and returns the parsed JSON; throws AppError on any failure. */
  get(path: string, what: string, signal?: AbortSignal): Promise<unknown>;
  patch(path: string, json: unknown, what: string, signal?: AbortSignal): Promise<unknown>;
}

function expectOk(response: HttpResponse, what: string): unknown {
  if (response.status >= 200 && response.status < 300) return parseJson(response.text);
  const body = parseJson(response.text) as { error?: unknown } | undefined;
  const message = typeof body?.error === 'string' ? body.error : bodyExcerpt(response.text);
  throw errorForStatus(response, `${what}: ${message}`);
}

export function createTestCrmClient(
  http: HttpClient,
  apiUrl: string,
  apiKey: string,
): TestCrmClient {
  const base = apiUrl.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${apiKey}` };
  return {
    async get(path, what, signal) {
      return expectOk(await http.send({ method: 'GET', url: base + path, headers, signal }), what);
    },
    async patch(path, json, what, signal) {
      return expectOk(
        await http.send({ method: 'PATCH', url: base + path, headers, json, signal }),
        what,
      );
    },
  };
}
