/**
 * Counters and histograms one process keeps for `/metrics` (Prometheus text
 * format, prom-client). Each service gets its own registry, so several
 * services in one process (tests) never share figures. Figures read from the
 * database (backlog, mail queue) are added by the HTTP layer at scrape time.
 */
import { Counter, Histogram, Registry } from 'prom-client';

export type ProcessedOutcome = 'done' | 'skipped' | 'failed';

export interface Metrics {
  readonly registry: Registry;
  /** A webhook was stored (any status, rejected ones included). */
  webhookReceived(connection: string, action: string): void;
  /** A stored webhook reached its outcome (retries are not counted until they end). */
  webhookProcessed(connection: string, action: string, outcome: ProcessedOutcome): void;
  /** One call to a CRM's API was started. */
  crmCall(connection: string): void;
  /** One HTTP request was answered. */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
}

/** Actions of the webhook contract; anything else is labelled `other`. */
const KNOWN_ACTIONS: readonly string[] = ['add', 'update', 'update_tags', 'test'];

/** Seconds: from a cached webhook answer (milliseconds) to a slow synchronous wait. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(): Metrics {
  const registry = new Registry();
  const received = new Counter({
    name: 'crm_bridge_webhooks_received_total',
    help: 'Webhooks stored, by connection and action.',
    labelNames: ['connection', 'action'] as const,
    registers: [registry],
  });
  const processed = new Counter({
    name: 'crm_bridge_webhooks_processed_total',
    help: 'Webhooks that reached an outcome in this process, by connection, action and outcome (done, skipped, failed).',
    labelNames: ['connection', 'action', 'outcome'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'crm_bridge_webhooks_failed_total',
    help: 'Webhooks marked failed in this process, by connection and action.',
    labelNames: ['connection', 'action'] as const,
    registers: [registry],
  });
  const crmCalls = new Counter({
    name: 'crm_bridge_crm_calls_total',
    help: 'Calls made to a CRM API, by connection.',
    labelNames: ['connection'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'crm_bridge_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  // Label values come from requests: actions outside the contract count as "other", and long
  // connection names are cut, so a caller cannot grow the number of series without bound.
  const action = (value: string) => (KNOWN_ACTIONS.includes(value) ? value : 'other');
  const bounded = (value: string) => (value.length > 40 ? value.slice(0, 40) : value);
  return {
    registry,
    webhookReceived(connection, name) {
      received.inc({ connection: bounded(connection), action: action(name) });
    },
    webhookProcessed(connection, name, outcome) {
      processed.inc({ connection: bounded(connection), action: action(name), outcome });
      if (outcome === 'failed')
        failed.inc({ connection: bounded(connection), action: action(name) });
    },
    crmCall(connection) {
      crmCalls.inc({ connection: bounded(connection) });
    },
    httpRequest(method, route, status, seconds) {
      duration.observe({ method, route, status: String(status) }, seconds);
    },
  };
}
