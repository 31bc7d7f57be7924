/**
 * One description per API operation: the Fastify route and the OpenAPI
 * operation are both made from it, and its schemas validate the input.
 */
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
} from 'fastify';
import type { z } from 'zod';
import { AppError, type ErrorCode } from '../errors.js';

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface ApiRoute {
  method: 'GET' | 'POST';
  /** OpenAPI form, relative to the API base: `/users/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description: string;
  /** Answered without an API token. */
  public?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  response: { description: string; schema: z.ZodType };
  /** Codes this operation answers with besides those any operation may give (bad token, bad input, internal). */
  errors: readonly ErrorCode[];
  handle(input: RouteInput<unknown, unknown, unknown>): Promise<unknown>;
}

type Output<S> = S extends z.ZodType ? z.output<S> : undefined;

/** Types `handle` from the route's own schemas, so input and answer match what the document says. */
export function defineRoute<
  R extends z.ZodType,
  P extends z.ZodObject | undefined = undefined,
  Q extends z.ZodObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(
  route: Omit<ApiRoute, 'params' | 'query' | 'body' | 'response' | 'handle'> & {
    params?: P;
    query?: Q;
    body?: B;
    response: { description: string; schema: R };
    handle(input: RouteInput<Output<P>, Output<Q>, Output<B>>): Promise<z.input<R>>;
  },
): ApiRoute {
  return route as ApiRoute;
}

/** `/users/{id}` → `/users/:id`. */
function fastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

function describeIssues(error: z.ZodError, where: string): string {
  return error.issues
    .map((issue) => {
      const name = issue.path.map(String).join('.');
      return name ? `${name}: ${issue.message}` : `${where}: ${issue.message}`;
    })
    .join('; ');
}

function parseInput(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('INVALID_REQUEST', describeIssues(parsed.error, where));
  return parsed.data;
}

/** Registers the routes; `requireToken` guards every route that is not public. */
export function registerRoutes(
  app: FastifyInstance,
  routes: readonly ApiRoute[],
  requireToken: onRequestAsyncHookHandler,
): void {
  for (const route of routes) {
    app.route({
      method: route.method,
      url: fastifyPath(route.path),
      onRequest: route.public ? [] : [requireToken],
      handler: async (request, reply) => {
        const params = parseInput(route.params, request.params, 'path');
        const query = parseInput(route.query, request.query, 'query');
        // The root parser never throws on a bad body: it marks the request, and the API answers 400.
        if (route.body && request.bodyProblem) {
          throw new AppError(
            'MALFORMED_BODY',
            'send a JSON object with Content-Type: application/json',
          );
        }
        // No body at all reads as an empty object, so the answer names the missing fields.
        const body = parseInput(route.body, request.body ?? {}, 'body');
        return route.handle({ params, query, body, request, reply });
      },
    });
  }
}
