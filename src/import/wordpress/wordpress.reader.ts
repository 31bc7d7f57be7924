/**
 * Reads a WordPress database (MySQL or MariaDB) through Kysely's MySQL
 * dialect: options, and users a page at a time with the meta the import
 * needs. Read-only: it never writes to the WordPress site.
 */
import { Kysely, MysqlDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import { AppError } from '../../errors.js';
import { MASK, redactUrlPassword } from '../../lib/secrets.js';

interface WordPressUserRow {
  ID: string;
  user_login: string;
  user_pass: string;
  user_email: string;
  user_registered: string;
  display_name: string;
}

/** One WordPress user with the usermeta rows asked for (the first row of each key). */
export interface WordPressUserRecord extends WordPressUserRow {
  meta: ReadonlyMap<string, string>;
}

export interface WordPressSource {
  /** The source URL with its password masked, to show. */
  readonly shown: string;
  readonly prefix: string;
  /** An option's stored value (serialized when PHP stored an array), or undefined. */
  readOption(name: string): Promise<string | undefined>;
  countUsers(): Promise<number>;
  /** Users with an ID above `afterId`, by ID, with the meta under `metaKeys`. */
  readUsers(
    afterId: string,
    limit: number,
    metaKeys: readonly string[],
  ): Promise<WordPressUserRecord[]>;
  close(): Promise<void>;
}

const PREFIX_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

/** Opens the source; fails with IMPORT_SOURCE_UNREADABLE (never showing the password) when it cannot read users. */
export async function openWordPressSource(url: string, prefix: string): Promise<WordPressSource> {
  const shown = redactUrlPassword(url);
  if (!PREFIX_PATTERN.test(prefix))
    throw new AppError(
      'IMPORT_SOURCE_UNREADABLE',
      `--prefix must be letters, digits and _ (got ${JSON.stringify(prefix)})`,
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError('IMPORT_SOURCE_UNREADABLE', `--from is not a URL: ${shown}`);
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:')
    throw new AppError(
      'IMPORT_SOURCE_UNREADABLE',
      `--from must be mysql://user:password@host:3306/database (got ${shown})`,
    );
  const password = decodeURIComponent(parsed.password);
  const hide = (text: string) =>
    password ? text.split(password).join(MASK).split(parsed.password).join(MASK) : text;
  const db = new Kysely<Record<string, never>>({
    dialect: new MysqlDialect({
      pool: createPool({
        host: parsed.hostname,
        port: parsed.port ? Number(parsed.port) : 3306,
        user: decodeURIComponent(parsed.username),
        password,
        database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
        connectionLimit: 2,
        charset: 'utf8mb4',
        // Dates and IDs as text: no time zone shifts, no precision loss on bigint IDs.
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        connectTimeout: 10_000,
      }),
    }),
  });
  const table = (name: string) => sql.table(`${prefix}${name}`);
  const guard = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new AppError('IMPORT_SOURCE_UNREADABLE', `${what} from ${shown}: ${hide(reason)}`);
    }
  };
  const source: WordPressSource = {
    shown,
    prefix,
    readOption: (name) =>
      guard(`reading the option ${name}`, async () => {
        const { rows } = await sql<{ option_value: string }>`
          select option_value from ${table('options')} where option_name = ${name} limit 1
        `.execute(db);
        return rows[0]?.option_value;
      }),
    countUsers: () =>
      guard('counting users', async () => {
        const { rows } = await sql<{ n: string | number }>`
          select count(*) as n from ${table('users')}
        `.execute(db);
        return Number(rows[0]?.n ?? 0);
      }),
    readUsers: (afterId, limit, metaKeys) =>
      guard('reading users', async () => {
        const { rows } = await sql<WordPressUserRow>`
          select ID, user_login, user_pass, user_email, user_registered, display_name
          from ${table('users')} where ID > ${afterId} order by ID limit ${limit}
        `.execute(db);
        if (rows.length === 0) return [];
        const meta = new Map(rows.map((row) => [String(row.ID), new Map<string, string>()]));
        if (metaKeys.length > 0) {
          const metaRows = await sql<{ user_id: string; meta_key: string; meta_value: string }>`
            select user_id, meta_key, meta_value from ${table('usermeta')}
            where user_id in (${sql.join(rows.map((row) => row.ID))})
              and meta_key in (${sql.join([...metaKeys])})
            order by umeta_id
          `.execute(db);
          for (const row of metaRows.rows) {
            const own = meta.get(String(row.user_id));
            if (own && !own.has(row.meta_key)) own.set(row.meta_key, row.meta_value ?? '');
          }
        }
        return rows.map((row) => ({
          ...row,
          ID: String(row.ID),
          meta: meta.get(String(row.ID)) ?? new Map<string, string>(),
        }));
      }),
    close: () => db.destroy(),
  };
  try {
    // Fails early, before anything is written, on a wrong host, login, database or prefix.
    await source.countUsers();
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return source;
}
