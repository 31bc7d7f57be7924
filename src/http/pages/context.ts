/**
 * What every account page needs from its request: the settings (read once
 * per request), whether the connection is https, form and query input
 * checked against a schema, and the answer with its security headers.
 */
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { z } from 'zod';
import { writeActivity, type ActivityEntry } from '../../activity/activity.repository.js';
import { AppError } from '../../errors.js';
import { loadSettings, type Settings } from '../../settings/settings.js';
import type { AppDeps } from '../app-deps.js';

export type PageDeps = Pick<
  AppDeps,
  'db' | 'clock' | 'settingOverrides' | 'publicUrl' | 'mail' | 'sealer'
>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The settings an account page was rendered with (also used for its headers). */
    pageSettings: Settings | undefined;
  }
}

/**
 * The CSRF check, as a route's preHandler. The plugin types its decorator as a method
 * of the instance; it uses no `this`, and is called here on the request's instance.
 */
export const csrfProtectionHook: preHandlerHookHandler = (request, reply, done) => {
  request.server.csrfProtection(request, reply, done);
};

export async function settingsFor(deps: PageDeps, request: FastifyRequest): Promise<Settings> {
  request.pageSettings ??= await loadSettings(deps.db, deps.settingOverrides);
  return request.pageSettings;
}

/** With TRUST_PROXY, request.protocol follows X-Forwarded-Proto; an https PUBLIC_URL means a proxy terminates TLS. */
export function isSecure(deps: PageDeps, request: FastifyRequest): boolean {
  return request.protocol === 'https' || deps.publicUrl().startsWith('https:');
}

function originOf(url: string): string | undefined {
  try {
    return url ? new URL(url).origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Content-Security-Policy of every account page (the other security
 * headers are the service-wide ones). Browsers check form-action on the
 * redirect that follows a form, so the site a login returns to must be listed too.
 * The set-password URL carries its token: the service-wide Referrer-Policy
 * (no-referrer) keeps it out of other sites' Referer.
 */
export function pageSecurityPolicy(siteUrl: string): string {
  const site = originOf(siteUrl);
  const formAction = site ? `'self' ${site}` : `'self'`;
  return `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

export function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(html);
}

export function seeOther(reply: FastifyReply, location: string): FastifyReply {
  return reply.redirect(location, 303);
}

/** Longer than any password the policy accepts, so an over-long one gets the policy's message, not a refusal. */
export const PASSWORD_INPUT_MAX = 4096;

/** A single-valued text input; absent counts as empty, a repeated key or an object is refused. */
export const text = (max: number) => z.string().max(max).default('');

function parseInput<T extends z.ZodRawShape>(
  input: unknown,
  shape: T,
  what: string,
): z.output<z.ZodObject<T>> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new AppError('INVALID_REQUEST', `the ${what} could not be read`);
  }
  const parsed = z.object(shape).safeParse(input);
  if (!parsed.success) {
    const fields = [
      ...new Set(parsed.error.issues.map((issue) => String(issue.path[0] ?? ''))),
    ].filter((name) => name !== '');
    throw new AppError(
      'INVALID_REQUEST',
      `unexpected value for ${fields.map((name) => `"${name}"`).join(', ') || `the ${what}`}`,
    );
  }
  return parsed.data;
}

/** The fields of a posted form (any other fields are ignored). */
export function readForm<T extends z.ZodRawShape>(
  request: FastifyRequest,
  shape: T,
): z.output<z.ZodObject<T>> {
  if (request.bodyProblem) throw new AppError('INVALID_REQUEST', 'the form could not be read');
  return parseInput(request.body ?? {}, shape, 'form');
}

export function readQuery<T extends z.ZodRawShape>(
  request: FastifyRequest,
  shape: T,
): z.output<z.ZodObject<T>> {
  return parseInput(request.query ?? {}, shape, 'address');
}

/** The token for a form on this page (setting the CSRF cookie on first use). */
export function csrfToken(deps: PageDeps, request: FastifyRequest, reply: FastifyReply): string {
  return reply.generateCsrf({ secure: isSecure(deps, request) });
}

/** One activity-log line about an account (never with a password, token or session id in it). */
export async function recordActivity(deps: PageDeps, entry: ActivityEntry): Promise<void> {
  await writeActivity(deps.db, [entry], deps.clock.now().toISOString());
}
