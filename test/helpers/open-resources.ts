/**
 * What test helpers start and a test must close: services, fake servers, child
 * processes, SMTP servers, browsers, databases and their connection pools, started
 * workers and import runners. `test/setup/no-leaks.ts` fails a
 * test file that leaves any of them open, so a leak shows where it was made
 * instead of as a hung run or an exhausted connection pool later.
 */
const open = new Map<symbol, string>();

/** Records that `what` was started; call the returned function once it is closed (calling it again does nothing). */
export function trackOpen(what: string): () => void {
  const token = Symbol(what);
  open.set(token, what);
  return () => {
    open.delete(token);
  };
}

/** What was started and not yet closed; forgets it, so one leak is reported once. */
export function takeStillOpen(): string[] {
  const left = [...open.values()];
  open.clear();
  return left;
}

/** `resource` tracked as open until its `close` method has run (`destroy`, `stop`…). */
export function trackedUntil<T extends object>(
  what: string,
  resource: T,
  close: { [K in keyof T]: T[K] extends () => Promise<void> ? K : never }[keyof T],
): T {
  const closed = trackOpen(what);
  const original = resource[close] as () => Promise<void>;
  return Object.assign(resource, {
    [close]: async () => {
      try {
        await original.call(resource);
      } finally {
        closed();
      }
    },
  });
}

/** A loop (a worker, an import runner) tracked as open from its `start()` until its `stop()`. */
export function trackedLoop<T extends { start: () => void; stop: () => Promise<void> }>(
  what: string,
  loop: T,
): T {
  let closed: (() => void) | undefined;
  const { start, stop } = loop;
  return Object.assign(loop, {
    start() {
      closed ??= trackOpen(what);
      start.call(loop);
    },
    async stop() {
      try {
        await stop.call(loop);
      } finally {
        closed?.();
        closed = undefined;
      }
    },
  });
}
