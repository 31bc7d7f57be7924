/**
 * The baseline for the ingest benchmark: a Fastify server that does nothing
 * but answer `{}` to GET `/` (any query string is ignored). Run in its own
 * process by bench/ingest.bench.ts:
 *
 *   node --import tsx bench/noop-server.ts <port>
 */
import Fastify from 'fastify';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: noop-server.ts <port>');
  process.exit(2);
}

const app = Fastify({ logger: false });
// A resolved promise, as the service's async handlers answer.
app.get('/', () => Promise.resolve({}));

await app.listen({ host: '127.0.0.1', port });

const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
