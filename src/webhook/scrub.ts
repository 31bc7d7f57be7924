/** The access key has done its job once checked: it is dropped from everything stored. */

/** The URL as stored: the access key has done its job and is not kept. */
export function withoutKeyInUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const query = new URLSearchParams(url.slice(queryStart + 1));
  for (const key of [...query.keys()]) if (isAccessKeyName(key)) query.delete(key);
  const rest = query.toString();
  return rest ? `${url.slice(0, queryStart)}?${rest}` : url.slice(0, queryStart);
}

/** The raw body as stored: an access key sent in a form or JSON body is dropped too. */
export function withoutKeyInBody(body: string): string {
  if (!body.includes('access_key')) return body;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return JSON.stringify(
        Object.fromEntries(Object.entries(parsed).filter(([key]) => !isAccessKeyName(key))),
      );
    }
    return body;
  } catch {
    const form = new URLSearchParams(body);
    for (const key of [...form.keys()]) if (isAccessKeyName(key)) form.delete(key);
    return form.toString();
  }
}

/** `access_key`, and the bracket forms PHP-style senders use (`access_key[]`, `access_key[0]`). */
function isAccessKeyName(name: string): boolean {
  return name === 'access_key' || /^access_key\[[^\]]*\]$/.test(name);
}

/** The merged parameters without the access key. */
export function withoutKey(params: Record<string, string>): Record<string, string> {
  const { access_key: _key, ...rest } = params;
  return rest;
}
