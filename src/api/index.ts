/**
 * The REST API for the site that uses crm-bridge, under /api/v1: API-token
 * auth, JSON errors in the service's shape, and an OpenAPI document made from
 * the same route descriptions the routes are registered from.
 */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { writeActivity } from '../activity/activity.repository.js';
import { AppError, isAppError } from '../errors.js';
import type { AppDeps } from '../http/app-deps.js';
import { redactUrl } from '../lib/secrets.js';
import { authRoutes } from './auth.routes.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.js';
import { defineRoute, registerRoutes, type ApiRoute } from './route.js';
import { OpenApiDocumentSchema } from './schemas.js';
import { createTokenVerifier, type ApiTokenIdentity } from './token-auth.js';
import { usersRoutes } from './users.routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API token the request was made with (API routes only). */
    apiToken: ApiTokenIdentity | null;
  }
}

const REALM = 'Bearer realm="crm-bridge"';

/** The bearer token of an `Authorization` header; the scheme name is case-insensitive (RFC 7235). */
function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer +(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Anything thrown while answering, as the AppError to answer with. */
function toApiError(error: unknown): AppError {
  if (isAppError(error)) return error;
  const { statusCode, code, message } = error as {
    statusCode?: number;
    code?: string;
    message?: string;
  };
  if (
    statusCode === 413 ||
    code === 'FST_ERR_CTP_BODY_TOO_LARGE' ||
    code === 'FST_REQ_FILE_TOO_LARGE'
  )
    return new AppError('BODY_TOO_LARGE');
  if (statusCode !== undefined && statusCode < 500) return new AppError('INVALID_REQUEST', message);
  // As elsewhere in the service: the caller should retry. No detail, as a message can name tables or values.
  return new AppError('STORAGE_UNAVAILABLE');
}

/** Registers the API on `app`, an encapsulated scope with its own error handler (prefix /api/v1). */
export function registerApi(app: FastifyInstance, deps: AppDeps): void {
  const { db, clock } = deps;
  const baseUrl = () => `${deps.publicUrl()}${app.prefix}`;
  const verifier = createTokenVerifier(db, clock, { cacheMs: deps.cacheMs });
  app.decorateRequest('apiToken', null);

  const requireToken: onRequestAsyncHookHandler = async (request) => {
    const raw = bearerToken(request);
    if (raw === undefined) throw new AppError('UNAUTHORIZED');
    const token = await verifier.verify(raw);
    if (!token) throw new AppError('UNAUTHORIZED', 'the token is unknown or revoked');
    request.apiToken = token;
  };

  app.setErrorHandler(async (error, request, reply) => {
    const appError = toApiError(error);
    if (appError.status >= 500)
      request.log.error({ err: error, url: redactUrl(request.url) }, 'API request failed');
    if (['INVALID_REQUEST', 'MALFORMED_BODY', 'BODY_TOO_LARGE'].includes(appError.code)) {
      // Refused input leaves a line in the activity log: what was wrong, never the values sent.
      await writeActivity(
        db,
        [
          {
            level: 'notice',
            action: 'api',
            message: `Refused ${request.method} ${request.url.split('?')[0]}: ${appError.message}`,
            data: { ip: request.ip, apiToken: request.apiToken?.name ?? null },
          },
        ],
        clock.now().toISOString(),
      ).catch((failure: unknown) =>
        request.log.warn({ err: failure }, 'could not write the activity log'),
      );
    }
    if (appError.code === 'UNAUTHORIZED') {
      reply.header(
        'www-authenticate',
        request.headers.authorization === undefined ? REALM : `${REALM}, error="invalid_token"`,
      );
    }
    if (appError.retryAfterMs !== undefined)
      reply.header('retry-after', String(Math.max(1, Math.ceil(appError.retryAfterMs / 1000))));
    return reply
      .code(appError.status)
      .send({ status: 'error', error: { code: appError.code, message: appError.message } });
  });

  const routes: ApiRoute[] = [
    ...authRoutes({ db, clock, settingOverrides: deps.settingOverrides, keyring: deps.sealer }),
    ...usersRoutes({ db, baseUrl }),
  ];
  let document: { serverUrl: string; document: OpenApiDocument } | undefined;
  const documentRoute: ApiRoute = defineRoute({
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This document',
    description: 'The OpenAPI 3.1 description of this API. No token needed.',
    public: true,
    response: { description: 'The OpenAPI document.', schema: OpenApiDocumentSchema },
    errors: [],
    handle() {
      // The public URL is known only once the server listens, so the document is built on first request.
      const serverUrl = baseUrl();
      if (document?.serverUrl !== serverUrl)
        document = {
          serverUrl,
          document: buildOpenApiDocument([...routes, documentRoute], serverUrl),
        };
      return Promise.resolve(document.document);
    },
  });
  registerRoutes(app, [...routes, documentRoute], requireToken);
}
