/**
 * Hot statements built and compiled once: Kysely builds a query's tree and
 * compiles it to SQL afresh at each call, which cost a run more CPU than
 * SQLite took to execute its statements. A prepared query is built once per
 * dialect (and per `key`, for what shapes its SQL) with stand-ins for its
 * values; each call puts the values in their places and executes the SQL.
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { isPostgres } from './db-clock.js';
import type { DB } from './schema.js';

/** Stands in for one value while the query is compiled. */
class StandIn {
  constructor(readonly name: string) {}
}

/** Where each parameter of the compiled SQL comes from: a named value, or a constant. */
type Slot = { name: string } | { value: unknown };

interface Prepared {
  compiled: CompiledQuery;
  slots: Slot[];
}

/**
 * `build(db, values, key)` makes the query; `values` hands out stand-ins, so it must only pass
 * them on as values (not compute with them). What changes the SQL itself goes in `key`.
 */
export function preparedQuery<V extends object, R, K = undefined>(
  build: (db: Kysely<DB>, values: V, key: K) => Compilable<R>,
): (db: Kysely<DB>, values: V, key?: K) => Promise<QueryResult<R>> {
  const cache = new Map<string, Prepared>();
  const standIns = new Proxy({} as V, {
    get: (_target, name) => new StandIn(String(name)),
  });
  return async (db, values, key) => {
    const cacheKey = `${isPostgres(db) ? 'pg' : 'sqlite'}:${String(key)}`;
    let prepared = cache.get(cacheKey);
    if (!prepared) {
      const compiled = build(db, standIns, key as K).compile();
      prepared = {
        compiled,
        slots: compiled.parameters.map((value) =>
          value instanceof StandIn ? { name: value.name } : { value },
        ),
      };
      cache.set(cacheKey, prepared);
    }
    const parameters = prepared.slots.map((slot) =>
      'name' in slot ? (values as Record<string, unknown>)[slot.name] : slot.value,
    );
    return db.executeQuery<R>({ ...prepared.compiled, parameters });
  };
}
