/**
 * Where a login may send the browser. A `redirect_to` comes from a link
 * anyone can craft, so only paths on this service and pages of the
 * configured site are followed; anything else is ignored.
 */

// Browsers drop tabs and newlines from URLs and read "\" as "/", which turns
// "/\t/evil.example" or "/\evil.example" into another host. Anything but
// printable ASCII is refused: a real link arrives percent-encoded, and a raw
// character outside Latin-1 could not even go into the Location header.
const UNSAFE_CHARACTERS = /[^\u0021-\u007e]|\\/;

function isLocalPath(target: string): boolean {
  return target.startsWith('/') && !target.startsWith('//');
}

function isSitePage(target: string, siteUrl: string): boolean {
  if (!siteUrl) return false;
  try {
    const url = new URL(target);
    return (
      (url.protocol === 'https:' || url.protocol === 'http:') &&
      url.origin === new URL(siteUrl).origin &&
      target.startsWith(url.origin)
    );
  } catch {
    return false;
  }
}

/** `target` when it is safe to redirect to, else undefined. */
export function safeRedirect(target: string | undefined, siteUrl: string): string | undefined {
  if (!target || target.length > 2000 || UNSAFE_CHARACTERS.test(target)) return undefined;
  return isLocalPath(target) || isSitePage(target, siteUrl) ? target : undefined;
}

/** Where a user goes once logged in (or done choosing a password). */
export function destinationAfterLogin(target: string | undefined, siteUrl: string): string {
  return safeRedirect(target, siteUrl) ?? (siteUrl || '/account');
}
