/**
 * /admin/dashboard: at a glance, webhooks received and processed per minute
 * over the last 24 hours (an SVG chart drawn here), the backlog, failures
 * waiting for a replay, each CRM connection's rate-limit use and the mail queue.
 */
import type { FastifyInstance } from 'fastify';
import { dashboardStats } from '../../inbox/stats.js';
import { escapeHtml } from '../../lib/html.js';
import { sendPage } from '../pages/context.js';
import { renderLineChart } from '../svg-chart.js';
import { adminFrame, type AdminDeps } from './context.js';
import { adminPage, table, when } from './layout.js';

export function registerDashboardPage(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/admin/dashboard', async (request, reply) => {
    const frame = await adminFrame(deps, request, reply, '/admin/dashboard');
    const stats = await dashboardStats(deps.db, deps.clock.now(), deps.rateLimitUse?.() ?? []);
    const chart = renderLineChart({
      title: 'Webhooks per minute, last 24 hours',
      series: [
        { name: 'received', color: '#0b57a4', values: stats.perMinute.map((m) => m.received) },
        { name: 'processed', color: '#1e7b34', values: stats.perMinute.map((m) => m.processed) },
      ],
      startLabel: when(stats.perMinute[0]?.at),
      endLabel: when(stats.perMinute.at(-1)?.at),
    });
    const total = (key: 'received' | 'processed') =>
      stats.perMinute.reduce((sum, minute) => sum + minute[key], 0);
    const figures = `<dl>
<dt>Received (24 h)</dt><dd id="received-24h">${total('received')}</dd>
<dt>Processed (24 h)</dt><dd>${total('processed')}</dd>
<dt>Backlog</dt><dd>${stats.backlog.pending} queued · ${stats.backlog.running} processing</dd>
<dt>Failures waiting</dt><dd><a href="/admin/webhooks?status=failed">${stats.failuresWaiting}</a></dd>
<dt>Mail queue</dt><dd>${stats.mailQueue} waiting</dd>
</dl>`;
    const limits = table(
      ['connection', 'requests used', 'limit'],
      stats.rateLimits.map((limit) => [
        escapeHtml(limit.connectionId),
        String(limit.used),
        `${limit.requests} per ${Math.round(limit.windowMs / 1000)} s`,
      ]),
    );
    const main = `<section aria-labelledby="chart-h"><h2 id="chart-h">Webhooks per minute (blue: received, green: processed)</h2><figure id="webhook-chart">${chart}</figure></section>
<section aria-labelledby="now-h"><h2 id="now-h">Now</h2>${figures}</section>
<section aria-labelledby="rl-h"><h2 id="rl-h">CRM rate limits (this process)</h2>${limits}</section>`;
    return sendPage(reply, 200, adminPage(frame, 'Dashboard', main));
  });
}
