/**
 * The HTTP layer (Fastify): webhook routes at `/` and `/webhooks/<connection>`,
 * body parsing that keeps the raw body, JSON answers by default and a debug
 * page for browsers, and a health check. Built from injected dependencies;
 * `listen` is the caller's business.
 */
import type { IncomingMessage } from 'node:http';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { registerApi } from '../api/index.js';
import { AppError, errorBody, isAppError } from '../errors.js';
import { redactUnparsed, redactUrl } from '../lib/secrets.js';
import type { ReplayTarget } from '../inbox/replay.js';
import type { IntakeResponse } from '../webhook/answers.js';
import type { IntakeRequest } from '../webhook/request.js';
import {
  BodyError,
  parseForm,
  parseJsonBody,
  parseLooseBody,
  parseMultipart,
} from './body-parsers.js';
import type { AppDeps } from './app-deps.js';
import { renderDebugPage } from './debug-page.js';
import { registerHealthRoutes, registerRequestTiming } from './health.js';
import { escapeHtml } from '../lib/html.js';
import { page } from './html.js';
import { registerAccountPages } from './pages/index.js';
import { registerSecurityHeaders } from './security-headers.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody: string | undefined;
    /** The type `rawBody` is kept as, when it differs from the request's (multipart fields are kept as JSON). */
    rawBodyType: string | undefined;
    bodyProblem: IntakeRequest['bodyProblem'];
  }
}

const WEBHOOK_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * Fastify treats a number as "trust no proxy"; a hop count is the classic
 * rule instead: the socket's peer and the next `hops - 1` X-Forwarded-For
 * entries from the right are proxies, the entry after them is the client.
 */
function fastifyTrustProxy(
  setting: AppDeps['trustProxy'],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return setting === 0 ? false : (_address, hop) => hop < setting;
  return setting;
}

function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.includes('text/html');
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const logging: Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> =
    deps.logger === false ? { logger: false } : { loggerInstance: deps.logger };
  const app = Fastify({
    ...logging,
    bodyLimit: deps.bodyLimit,
    trustProxy: fastifyTrustProxy(deps.trustProxy),
    exposeHeadRoutes: false,
    rewriteUrl: webhookOnAnyPath,
  });
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('rawBodyType', undefined);
  app.decorateRequest('bodyProblem', undefined);
  // Before any route or scope is added, so that every answer gets them (404s and errors too).
  registerSecurityHeaders(app, { publicUrl: deps.publicUrl });
  registerRequestTiming(app, deps.metrics);

  // Every parser keeps the raw body, and a body that does not parse reaches the
  // handler marked as malformed instead of failing early: it must still be stored.
  // Such a body is kept with its secret-looking values masked, since it cannot be redacted later.
  const problemOf = (error: unknown): NonNullable<IntakeRequest['bodyProblem']> =>
    error instanceof BodyError
      ? error.problem
      : { code: 'MALFORMED_BODY', detail: 'the body could not be read' };
  const keepRaw = (request: FastifyRequest, text: string, parse: (text: string) => unknown) => {
    request.rawBody = text;
    try {
      return parse(text);
    } catch (error) {
      request.bodyProblem = problemOf(error);
      request.rawBody = redactUnparsed(text);
      return undefined;
    }
  };
  // JSON and forms for every route (the API, the account pages and webhooks); the
  // body limit applies to every type. Other types get 415 outside the webhook routes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    done(null, keepRaw(request, body as string, parseJsonBody));
  });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) => {
      done(null, keepRaw(request, body as string, parseForm));
    },
  );
  /** Webhook routes also read multipart and bodies of any other type. */
  const addWebhookParsers = (scope: FastifyInstance) => {
    scope.addContentTypeParser(
      'multipart/form-data',
      { parseAs: 'buffer' },
      (request, body, done) => {
        parseMultipart(body as Buffer, request.headers['content-type'] ?? '', deps.bodyLimit).then(
          (fields) => {
            // Multipart fields are kept as JSON, which replays like the original.
            request.rawBody = JSON.stringify(fields);
            request.rawBodyType = 'application/json';
            done(null, fields);
          },
          (error: unknown) => {
            request.rawBody = redactUnparsed((body as Buffer).toString('utf8'));
            request.bodyProblem = problemOf(error);
            done(null, undefined);
          },
        );
      },
    );
    scope.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
      done(null, keepRaw(request, body as string, parseLooseBody));
    });
  };

  const toIntakeRequest = (
    request: FastifyRequest,
    params: { connection?: string },
  ): IntakeRequest => {
    const header = request.headers['x-access-key'];
    return {
      method: request.method,
      // As the CRM sent it, before a `wpf_action` on another path was routed to `/`.
      url: request.originalUrl,
      connectionId: params.connection,
      query: request.query,
      body: request.body,
      rawBody: request.rawBody,
      contentType: request.rawBodyType ?? request.headers['content-type'],
      accessKeyHeader: Array.isArray(header) ? header[0] : header,
      ip: request.ip,
      bodyProblem: request.bodyProblem,
    };
  };

  const send = (request: FastifyRequest, reply: FastifyReply, response: IntakeResponse) => {
    reply.code(response.statusCode);
    if (response.retryAfterSeconds !== undefined)
      reply.header('retry-after', String(response.retryAfterSeconds));
    if (wantsHtml(request))
      return reply.type('text/html; charset=utf-8').send(renderDebugPage(response));
    return reply.send(response.body);
  };

  const runIntake = async (
    request: FastifyRequest,
    reply: FastifyReply,
    intakeRequest: IntakeRequest,
  ) => {
    try {
      return send(request, reply, await deps.intake.handle(intakeRequest));
    } catch (error) {
      // Anything that goes wrong here is storage failing: answer 503 so the CRM retries.
      request.log.error({ err: error, url: redactUrl(request.url) }, 'webhook could not be stored');
      const appError =
        isAppError(error) && error.status < 500 ? error : new AppError('STORAGE_UNAVAILABLE');
      reply.header('retry-after', '30');
      return send(request, reply, { statusCode: appError.status, body: errorBody(appError) });
    }
  };

  const isLanding = (request: FastifyRequest) =>
    request.method === 'GET' &&
    Object.keys(request.query as object).length === 0 &&
    !request.headers['x-access-key'];

  const handler = async (
    request: FastifyRequest<{ Params: { connection?: string } }>,
    reply: FastifyReply,
  ) => {
    if (request.routeOptions.url === '/' && isLanding(request)) {
      const text =
        'crm-bridge is running. Webhooks: ?wpf_action=update_tags|update|add|test&access_key=…&contact_id=…';
      return wantsHtml(request)
        ? reply
            .type('text/html; charset=utf-8')
            .send(
              page(
                'crm-bridge',
                `<h1>crm-bridge</h1><p>${escapeHtml(text)}</p><p><a href="/login">Log in</a> · <a href="/lost-password">Lost your password?</a></p>`,
              ),
            )
        : reply.send({ service: 'crm-bridge', status: 'ok', message: text });
    }
    return runIntake(request, reply, toIntakeRequest(request, request.params));
  };
  registerHealthRoutes(app, deps);

  app.setErrorHandler(
    async (error: Error & { code?: string; statusCode?: number }, request, reply) => {
      const isWebhook =
        request.routeOptions.url === '/' || request.routeOptions.url === '/webhooks/:connection';
      const tooLarge = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413;
      const unreadable =
        error.code?.startsWith('FST_ERR_CTP_') === true ||
        (error.statusCode !== undefined && error.statusCode < 500);
      if (isWebhook && (tooLarge || unreadable)) {
        const params = request.params as { connection?: string };
        const intakeRequest = toIntakeRequest(request, params);
        intakeRequest.rawBody = undefined;
        intakeRequest.bodyProblem = tooLarge
          ? { code: 'BODY_TOO_LARGE', detail: `the limit is ${deps.bodyLimit} bytes` }
          : {
              code: 'MALFORMED_BODY',
              detail: `the body could not be read${error.code ? ` (${error.code})` : ''}`,
            };
        return runIntake(request, reply, intakeRequest);
      }
      if (error.statusCode !== undefined && error.statusCode < 500) {
        const appError = new AppError(
          tooLarge
            ? 'BODY_TOO_LARGE'
            : error.statusCode === 415
              ? 'UNSUPPORTED_MEDIA_TYPE'
              : 'INVALID_REQUEST',
          error.message,
        );
        return reply.code(appError.status).send(errorBody(appError));
      }
      request.log.error({ err: error, url: redactUrl(request.url) }, 'request failed');
      return reply.code(503).send(errorBody(new AppError('STORAGE_UNAVAILABLE')));
    },
  );

  app.setNotFoundHandler((request, reply) => {
    // `wpf_action` in a form or JSON body to any page of the old site (FunnelKit's POST rows).
    if (WEBHOOK_METHODS.includes(request.method as never) && hasOwnWpfAction(request.body))
      return runIntake(request, reply, toIntakeRequest(request, {}));
    return reply
      .code(404)
      .send(
        errorBody(
          new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`),
        ),
      );
  });
  // Registered last: awaiting a plugin builds the routes declared so far, and they must see the error handler above.
  await app.register((scope, _options, done) => {
    addWebhookParsers(scope);
    scope.route({ method: [...WEBHOOK_METHODS], url: '/', handler });
    scope.route({ method: [...WEBHOOK_METHODS], url: '/webhooks/:connection', handler });
    done();
  });
  // Replays and resyncs from the admin pages go through the webhook routes in process.
  const replay: ReplayTarget = {
    database: { db: deps.db },
    clock: deps.clock,
    sealer: deps.sealer,
    app,
  };
  await app.register(async (scope) => registerAccountPages(scope, deps, replay));
  await app.register(
    (scope, _options, done) => {
      registerApi(scope, deps);
      done();
    },
    { prefix: '/api/v1' },
  );
  return app;
}

/**
 * WP Fusion answers `wpf_action` on every page of the site, so automations may
 * point at any of them (`/any/page/?wpf_action=…`, `/wp-content/plugins/wp-fusion/api.php?…`,
 * kept working by a proxy that keeps the old domain). A request whose query
 * has `wpf_action` is routed to `/` whatever its path; `/webhooks/<id>` keeps its
 * connection, and requests without `wpf_action` reach their own routes as before.
 */
function webhookOnAnyPath(request: Pick<IncomingMessage, 'url'>): string {
  const url = request.url ?? '/';
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const path = url.slice(0, queryStart);
  if (path === '/' || /^\/webhooks\/[^/]+\/?$/.test(path)) return url;
  const query = url.slice(queryStart + 1);
  return new URLSearchParams(query).has('wpf_action') ? `/?${query}` : url;
}

function hasOwnWpfAction(body: unknown): boolean {
  return (
    body !== null &&
    typeof body === 'object' &&
    !Array.isArray(body) &&
    Object.hasOwn(body, 'wpf_action')
  );
}
