/**
 * Routes for load balancers and monitoring: `/healthz` (the process answers),
 * `/readyz` (the database answers and its schema is current) and `/metrics`
 * (Prometheus text format; needs a token, see docs/operations.md).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { sql } from 'kysely';
import { createTokenVerifier } from '../api/token-auth.js';
import { AppError } from '../errors.js';
import { failuresWaiting, inboxBacklog, mailQueueSize } from '../inbox/stats.js';
import type { Metrics } from '../lib/metrics.js';
import { pendingMigrations } from '../storage/migrations/index.js';
import type { AppDeps } from './app-deps.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return (header === undefined ? null : /^Bearer +(\S+)\s*$/i.exec(header))?.[1];
}

/** Gauges read from the database (and the rate limiters) each time `/metrics` is scraped. */
function registerScrapeGauges(registry: Registry, deps: AppDeps): void {
  new Gauge({
    name: 'crm_bridge_inbox_events',
    help: 'Webhooks in the inbox by status: pending, running, failed.',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const backlog = await inboxBacklog(deps.db);
      this.reset();
      for (const status of ['pending', 'running', 'failed'] as const)
        this.set({ status }, backlog[status]);
    },
  });
  new Gauge({
    name: 'crm_bridge_failures_waiting',
    help: 'Failed webhooks not replayed yet.',
    registers: [registry],
    async collect() {
      this.set(await failuresWaiting(deps.db));
    },
  });
  new Gauge({
    name: 'crm_bridge_mail_queue',
    help: 'E-mails waiting to be sent.',
    registers: [registry],
    async collect() {
      this.set(await mailQueueSize(deps.db));
    },
  });
  const rateLimit = (name: string, help: string, pick: 'used' | 'requests') =>
    new Gauge({
      name,
      help,
      labelNames: ['connection'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const use of deps.rateLimitUse?.() ?? [])
          this.set({ connection: use.connectionId }, use[pick]);
      },
    });
  rateLimit(
    'crm_bridge_crm_rate_limit_used',
    'CRM calls counted against the connection rate limit right now, in this process.',
    'used',
  );
  rateLimit(
    'crm_bridge_crm_rate_limit_requests',
    'Calls the connection rate limit allows per window.',
    'requests',
  );
}

export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/healthz', () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const notReady = (reason: string) =>
      reply.code(503).send({ status: 'error', error: { code: 'NOT_READY', message: reason } });
    try {
      await sql`select 1`.execute(deps.db);
    } catch (error) {
      request.log.warn({ err: error }, 'readiness: database unreachable');
      return notReady('database unreachable');
    }
    let pending: string[];
    try {
      pending = await pendingMigrations(deps.db);
    } catch {
      return notReady('the database has no migration record; run crm-bridge migrate');
    }
    if (pending.length > 0)
      return notReady(`migrations not applied: ${pending.join(', ')} (run crm-bridge migrate)`);
    return { status: 'ok' };
  });

  const metrics = deps.metrics;
  if (!metrics) return;
  registerScrapeGauges(metrics.registry, deps);
  const verifier = createTokenVerifier(deps.db, deps.clock);
  const expected = deps.metricsToken ? digest(deps.metricsToken) : undefined;

  app.get('/metrics', async (request, reply) => {
    const raw = bearerToken(request);
    const allowed =
      raw !== undefined &&
      ((expected !== undefined && timingSafeEqual(digest(raw), expected)) ||
        (await verifier.verify(raw)) !== null);
    if (!allowed) {
      const error = new AppError(
        'UNAUTHORIZED',
        'send CRM_BRIDGE_METRICS_TOKEN or an API token as Authorization: Bearer <token>',
      );
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="crm-bridge"')
        .send({ status: 'error', error: { code: error.code, message: error.message } });
    }
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

/** Times every answer into the request-duration histogram, labelled by route pattern (never the raw URL). */
export function registerRequestTiming(app: FastifyInstance, metrics: Metrics | undefined): void {
  if (!metrics) return;
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
}
