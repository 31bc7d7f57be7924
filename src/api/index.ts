/** The REST API for the site that uses crm-bridge, under /api/v1. */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../http/app.js';

export async function registerApi(app: FastifyInstance, deps: AppDeps): Promise<void> {
  void app;
  void deps;
}
