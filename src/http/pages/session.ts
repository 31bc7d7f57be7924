/** The login cookie: which session a browser holds, and starting and ending one. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  createSession,
  deleteSession,
  resumeSession,
  type ActiveSession,
} from '../../accounts/sessions.repository.js';
import type { Settings } from '../../settings/settings.js';
import type { UserRow } from '../../storage/schema.js';
import { isSecure, type PageDeps } from './context.js';

const SESSION_COOKIE = 'crm_bridge_session';

export interface BrowserSession extends ActiveSession {
  secret: string;
}

function cookieOptions(deps: PageDeps, request: FastifyRequest) {
  return { path: '/', httpOnly: true, sameSite: 'lax', secure: isSecure(deps, request) } as const;
}

/** The logged-in user of this request, if its cookie names a live session. */
export async function currentSession(
  deps: PageDeps,
  request: FastifyRequest,
): Promise<BrowserSession | undefined> {
  const secret = request.cookies[SESSION_COOKIE];
  if (!secret) return undefined;
  const session = await resumeSession(deps.db, secret, deps.clock.now());
  return session && { ...session, secret };
}

/**
 * Always a new session id, and the one the browser held before is ended,
 * so an id planted before login (session fixation) is worth nothing after it.
 */
export async function startSession(
  deps: PageDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  user: UserRow,
  settings: Pick<Settings, 'session_hours'>,
): Promise<void> {
  const previous = request.cookies[SESSION_COOKIE];
  if (previous) await deleteSession(deps.db, previous);
  const ttlMs = settings.session_hours * 3_600_000;
  const userAgent = request.headers['user-agent'];
  const { secret } = await createSession(
    deps.db,
    { userId: user.id, ttlMs, ip: request.ip, userAgent: userAgent ?? null },
    deps.clock.now(),
  );
  reply.setCookie(SESSION_COOKIE, secret, {
    ...cookieOptions(deps, request),
    maxAge: Math.floor(ttlMs / 1000),
  });
}

export async function endSession(
  deps: PageDeps,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const secret = request.cookies[SESSION_COOKIE];
  if (secret) await deleteSession(deps.db, secret);
  reply.clearCookie(SESSION_COOKIE, cookieOptions(deps, request));
}

/** The login page address that comes back to `path` afterwards. */
export function loginUrl(path: string): string {
  return `/login?redirect_to=${encodeURIComponent(path)}`;
}
