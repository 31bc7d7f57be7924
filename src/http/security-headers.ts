/**
 * Headers every answer carries, whatever the route: the webhook's debug
 * page (contact data, reached by a URL with the access key in it), the
 * landing page, health checks, 404s, the API. Routes that need a different
 * Content-Security-Policy (the account pages) set their own; the rest is
 * the same everywhere.
 */
import type { FastifyInstance } from 'fastify';

/** Nothing may load, frame or be framed: for JSON and the plain HTML pages without forms. */
const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'";
/** The HTML pages of this file's routes style themselves inline and have no forms. */
const HTML_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function registerSecurityHeaders(
  app: FastifyInstance,
  options: { publicUrl: () => string },
): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    const html = String(reply.getHeader('content-type') ?? '').startsWith('text/html');
    const headers: Record<string, string> = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': html ? HTML_CSP : DEFAULT_CSP,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    };
    // Only when users reach the service over https: on plain http the header is ignored, and it would pin a bare host.
    if (options.publicUrl().startsWith('https:'))
      headers['strict-transport-security'] = 'max-age=31536000';
    for (const [name, value] of Object.entries(headers))
      if (!reply.hasHeader(name)) reply.header(name, value);
    return payload;
  });
}
