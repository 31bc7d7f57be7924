/**
 * What test helpers start and a test must close: services, fake servers, child
 * processes, SMTP servers, browsers, databases. `test/setup/no-leaks.ts` fails a
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
