/**
 * The one rule for "is this a secret?" and the one mask. Every place that
 * shows, logs or stores data from outside (webhook parameters, raw bodies,
 * URLs, CRM fields) redacts through these functions.
 */

/** What a secret value is replaced with wherever it would be shown. */
export const MASK = '***';

/** Whole words that name a secret: `api_key`, `apiKey`, `access-key`, `key`, `auth`. */
const SECRET_WORDS = new Set([
  'key',
  'apikey',
  'accesskey',
  'secretkey',
  'privatekey',
  'auth',
  'authorization',
  'credential',
  'credentials',
  'cookie',
  'otp',
]);

/** Parts that make any word a secret: `user_pass`, `WP Password`, `pwd`, `client_secret`, `api_token`. */
const SECRET_PARTS = ['pass', 'pwd', 'secret', 'token'];

/** Splits `WP Password`, `access_key[]`, `apiKey`, `fields[user_pass]` into lower-case words. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
}

/** True when a parameter, field or setting with this name holds a secret (bracket forms included). */
export function isSecretName(name: string): boolean {
  return words(name).some(
    (word) => SECRET_WORDS.has(word) || SECRET_PARTS.some((part) => word.includes(part)),
  );
}

/** A copy with the values of secret-named entries masked (an empty value stays empty). */
export function redactRecord<T>(
  record: Readonly<Record<string, T>>,
  isSecret: (name: string) => boolean = isSecretName,
): Record<string, T | string> {
  const result: Record<string, T | string> = {};
  for (const [key, value] of Object.entries(record)) {
    result[key] = isSecret(key) && value !== '' ? MASK : value;
  }
  return result;
}

/** Deepest structure the redaction walks; anything deeper is replaced by the mask. */
const MAX_DEPTH = 64;

/** A copy of parsed JSON with every secret-named value masked, at any depth. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return MASK;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      result[key] =
        isSecretName(key) && inner !== '' && inner !== null ? MASK : redactDeep(inner, depth + 1);
    }
    return result;
  }
  return value;
}

/** Masks secret values in a query string or form body (`a=1&user_pass=x`), keeping the order. */
export function redactQuery(query: string): string {
  const entries = [...new URLSearchParams(query)];
  if (!entries.some(([key]) => isSecretName(key))) return query;
  return new URLSearchParams(
    entries.map(([key, value]): [string, string] => [
      key,
      isSecretName(key) && value !== '' ? MASK : value,
    ]),
  ).toString();
}

/** Masks secret query values in a URL or a path with a query. */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const query = url.slice(queryStart + 1);
  const redacted = redactQuery(query);
  return redacted === query ? url : `${url.slice(0, queryStart)}?${redacted}`;
}

/**
 * A connection URL as it may be shown: the password of `user:password@` masked,
 * whatever it holds (an unencoded `@` or `/` included: up to the last `@`).
 */
export function redactUrlPassword(url: string): string {
  const start = url.indexOf('://');
  const at = url.lastIndexOf('@');
  if (start < 0 || at < start) return url;
  const colon = url.indexOf(':', start + 3);
  if (colon < 0 || colon > at) return url;
  return `${url.slice(0, colon + 1)}${MASK}${url.slice(at)}`;
}

/**
 * Text that did not parse (a broken JSON body, say), as it may be stored and
 * shown: the values of secret-looking names (`"user_pass": "…"`, `"pin": 1234`,
 * `user_pass=…`) are masked, though the text is neither valid JSON nor a form.
 */
export function redactUnparsed(text: string): string {
  const jsonPairs = /"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)/g;
  const masked = text.replace(jsonPairs, (whole, key: string, colon: string, value: string) =>
    isSecretName(key) && value !== '""' ? `"${key}"${colon}"${MASK}"` : whole,
  );
  return masked.replace(
    /(^|[&?\s{,])([^=&\s"{},]+)=([^&\s"]*)/g,
    (whole, lead: string, key: string, value: string) =>
      isSecretName(key) && value !== '' ? `${lead}${key}=${MASK}` : whole,
  );
}

/** Masks secrets in a raw body of any accepted format: JSON, a form, or text left as it came. */
export function redactBody(body: string | null, contentType: string | null): string | null {
  if (body === null || body === '') return body;
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.stringify(redactDeep(JSON.parse(body)));
    } catch {
      return redactUnparsed(body);
    }
  }
  if ((contentType ?? '').includes('form-urlencoded') || /^[^=&\s]+=/.test(body))
    return redactQuery(body);
  return body;
}
