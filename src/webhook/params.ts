/**
 * Webhook parameters: the query string and the body merged, the body winning
 * on a clash (PHP `$_REQUEST` order, extended to JSON bodies).
 */
/** Flattens a value to text: arrays of scalars become comma-separated, objects JSON. */
function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value) && value.every((item) => item === null || typeof item !== 'object')) {
    return value.map((item) => (item === null ? '' : String(item))).join(',');
  }
  return JSON.stringify(value);
}

/** `tags[]` and `tags` are the same parameter. */
function normalizeKey(key: string): string {
  return key.endsWith('[]') ? key.slice(0, -2) : key;
}

/** PostgreSQL text cannot hold NUL, and no parameter needs one: it becomes U+FFFD. */
function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

function addAll(target: Record<string, string>, source: unknown): void {
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return;
  for (const [key, value] of Object.entries(source)) {
    const text = asText(value);
    if (text !== undefined) target[withoutNul(normalizeKey(key))] = withoutNul(text);
  }
}

/** Merges query and body (an object from a form, multipart or JSON body) into flat text parameters. */
export function mergeParams(query: unknown, body: unknown): Record<string, string> {
  const params: Record<string, string> = {};
  addAll(params, query);
  addAll(params, body);
  return params;
}

/** Merge fields a CRM left unfilled, such as Ontraport's `[Contact ID]` or FunnelKit's `{{contact_id}}`. */
export function isUnfilledMergeField(value: string): boolean {
  const text = value.trim();
  return /^\[[^\]]*\]$/.test(text) || /^\{\{.*\}\}$/.test(text) || /^%[A-Z_ ]+%$/i.test(text);
}

/** `true`, `1`, `yes`, `on` are true; the string `false` (and anything else) is false. */
export function parseBoolean(value: string | undefined | null): boolean {
  if (value === undefined || value === null) return false;
  return ['true', '1', 'yes', 'on'].includes(value.trim().toLowerCase());
}
