/**
 * The common base of every fake CRM server used by the tests: a real HTTP
 * server on 127.0.0.1 that records requests and can be told to be slow, to
 * fail, or to rate-limit, so connector code meets those cases over a socket.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { trackOpen } from '../helpers/open-resources.js';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

export interface FakeReply {
  status: number;
  body?: unknown;
  /** Sent as is when a string; JSON-encoded otherwise. */
  headers?: Record<string, string> | undefined;
}

/** A failure injected into the next matching requests. */
export type InjectedFailure =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'timeout' }
  | { kind: 'reset' };

export type FakeHandler = (req: RecordedRequest) => FakeReply | Promise<FakeReply>;

export interface FakeHttpServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Added delay before every answer, in milliseconds. */
  latencyMs: number;
  /**
   * Holds the answers to requests whose path contains `pathPart` (in flight and to come) until
   * the returned function is called.
   */
  hold(pathPart: string): () => void;
  /** Queue failures for the next `count` requests whose path contains `pathPart` (any path when omitted). */
  failNext(failure: InjectedFailure, count?: number, pathPart?: string): void;
  /** Most requests seen inside any window of `windowMs`. */
  maxRequestsInWindow(windowMs: number): number;
  /** Requests being answered right now (for concurrency assertions). */
  readonly inFlight: number;
  close(): Promise<void>;
}

interface QueuedFailure {
  failure: InjectedFailure;
  remaining: number;
  pathPart: string | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a fake server on 127.0.0.1 with a random port. */
export async function startFakeHttpServer(handler: FakeHandler): Promise<FakeHttpServer> {
  const requests: RecordedRequest[] = [];
  const failures: QueuedFailure[] = [];
  let held: { pathPart: string; until: Promise<void> } | undefined;
  const sockets = new Set<Socket>();
  let inFlight = 0;

  const takeFailure = (path: string): InjectedFailure | undefined => {
    const queued = failures.find(
      (f) => f.remaining > 0 && (f.pathPart === undefined || path.includes(f.pathPart)),
    );
    if (!queued) return undefined;
    queued.remaining -= 1;
    return queued.failure;
  };

  const send = (res: ServerResponse, reply: FakeReply): void => {
    const isText = typeof reply.body === 'string';
    const payload =
      reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
    const headers: Record<string, string> = {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      ...reply.headers,
    };
    res.writeHead(reply.status, headers);
    res.end(payload);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(recorded);
      inFlight += 1;
      void (async () => {
        try {
          if (fake.latencyMs > 0) await sleep(fake.latencyMs);
          if (held && recorded.path.includes(held.pathPart)) await held.until;
          const failure = takeFailure(recorded.path);
          if (failure?.kind === 'timeout') return; // never answer; the client must time out
          if (failure?.kind === 'reset') {
            req.socket.destroy();
            return;
          }
          if (failure?.kind === 'status') {
            send(res, { status: failure.status, body: failure.body, headers: failure.headers });
            return;
          }
          send(res, await handler(recorded));
        } catch (error) {
          send(res, { status: 500, body: { error: String(error) } });
        } finally {
          inFlight -= 1;
        }
      })();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const closed = trackOpen('a fake CRM server');
  const { port } = server.address() as AddressInfo;

  const fake: FakeHttpServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    latencyMs: 0,
    hold(pathPart) {
      let release = () => {};
      const until = new Promise<void>((resolve) => {
        release = resolve;
      });
      held = { pathPart, until };
      return () => {
        held = undefined;
        release();
      };
    },
    failNext(failure, count = 1, pathPart) {
      failures.push({ failure, remaining: count, pathPart });
    },
    maxRequestsInWindow(windowMs) {
      const times = requests.map((r) => r.at).sort((a, b) => a - b);
      let best = 0;
      let start = 0;
      for (let end = 0; end < times.length; end += 1) {
        while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start += 1;
        best = Math.max(best, end - start + 1);
      }
      return best;
    },
    get inFlight() {
      return inFlight;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      closed();
    },
  };
  return fake;
}

/** A rolling-window request counter, as CRMs apply per account. */
export function createWindowLimiter(limit: number, windowMs: number) {
  const hits: number[] = [];
  return {
    limit,
    windowMs,
    /** Records a hit; returns whether it is within the limit and what remains. */
    hit(now = Date.now()): { allowed: boolean; remaining: number; resetSeconds: number } {
      while (hits.length > 0 && now - (hits[0] ?? 0) >= windowMs) hits.shift();
      const allowed = hits.length < limit;
      if (allowed) hits.push(now);
      const oldest = hits[0] ?? now;
      return {
        allowed,
        remaining: Math.max(0, limit - hits.length),
        resetSeconds: Math.max(0, Math.ceil((oldest + windowMs - now) / 1000)),
      };
    },
  };
}

/** Parses a JSON or form body the way lenient CRM APIs do. */
export function parseBody(req: RecordedRequest): Record<string, unknown> {
  if (req.body.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(req.body);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return Object.fromEntries(new URLSearchParams(req.body));
  }
}

/**
 * Gives a CRM fake the base server's members by reference (a spread would copy
 * `inFlight` once and cut `latencyMs` off from the server).
 */
export function extendFake<T extends FakeHttpServer>(
  base: FakeHttpServer,
  extra: Omit<T, keyof FakeHttpServer>,
): T {
  const fake = Object.create(base) as T;
  // The one writable member: a write must reach the server that reads it.
  Object.defineProperty(fake, 'latencyMs', {
    get: () => base.latencyMs,
    set: (ms: number) => {
      base.latencyMs = ms;
    },
    enumerable: true,
  });
  Object.defineProperties(fake, Object.getOwnPropertyDescriptors(extra));
  return fake;
}
