/**
 * What every admin page gets: the account pages' dependencies plus the
 * sealer (the access key), the connection registry, the credentials from
 * the environment and a way to send a request through this service's own
 * routes (replays, resyncs). Also the admin who is signed in, and the one
 * way an admin action reaches the activity log.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../app-deps.js';
import type { ConnectionRegistry } from '../../connections/registry.js';
import type { ReplayTarget } from '../../inbox/replay.js';
import type { Sealer } from '../../lib/seal.js';
import type { LogLevel, UserRow } from '../../storage/schema.js';
import { csrfToken, recordActivity, settingsFor, type PageDeps } from '../pages/context.js';
import type { AdminFrame } from './layout.js';

export interface AdminDeps extends PageDeps {
  readonly sealer: Sealer;
  readonly registry: ConnectionRegistry;
  readonly secretOverrides: Readonly<Record<string, string>>;
  /** Rate-limit use of the connections this process called (for the dashboard). */
  readonly rateLimitUse?: AppDeps['rateLimitUse'];
  /** Sends requests through this service's own webhook routes (replays, resyncs). */
  readonly replay: ReplayTarget;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The administrator signed in (set by the admin guard on every /admin route). */
    adminUser: UserRow | undefined;
  }
}

export function adminOf(request: FastifyRequest): UserRow {
  const user = request.adminUser;
  if (!user) throw new Error('admin route reached without the admin guard');
  return user;
}

export interface AdminAction {
  message: string;
  level?: LogLevel | undefined;
  /** The user the action was about (not the admin). */
  userId?: number | null | undefined;
  connectionId?: string | null | undefined;
  contactId?: string | null | undefined;
  eventId?: number | null | undefined;
  data?: Record<string, unknown> | undefined;
}

/** One activity-log line naming the administrator who did it (never a secret in it). */
export async function recordAdminAction(
  deps: AdminDeps,
  request: FastifyRequest,
  action: AdminAction,
): Promise<void> {
  const admin = adminOf(request);
  await recordActivity(deps, {
    level: action.level ?? 'notice',
    action: 'admin',
    message: `${admin.login}: ${action.message}`,
    userId: action.userId,
    connectionId: action.connectionId,
    contactId: action.contactId,
    eventId: action.eventId,
    data: { admin: admin.login, adminId: admin.id, ip: request.ip, ...action.data },
  });
}

/** A thrown error's message, for showing on a page. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The frame of an admin page: site name, who is signed in, and a CSRF token for its forms. */
export async function adminFrame(
  deps: AdminDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  current: string,
): Promise<AdminFrame> {
  const settings = await settingsFor(deps, request);
  return {
    siteName: settings.site_name,
    adminLogin: adminOf(request).login,
    current,
    csrfToken: csrfToken(deps, request, reply),
  };
}

/** The numeric `:id` of a route, or undefined when it is not one. */
export function idParam(request: FastifyRequest): number | undefined {
  const id = (request.params as { id: string }).id;
  return /^\d{1,12}$/.test(id) ? Number(id) : undefined;
}
