/** The account pages: login, logout, set-password, lost-password, account. */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.js';

export async function registerAccountPages(app: FastifyInstance, deps: AppDeps): Promise<void> {
  void app;
  void deps;
}
