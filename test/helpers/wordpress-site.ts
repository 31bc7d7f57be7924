/**
 * A WordPress-shaped database on the test MariaDB/MySQL server
 * (CRM_BRIDGE_TEST_MYSQL_URL, default mysql://root@127.0.0.1:3306): its own
 * database with WordPress 6.x's users, usermeta and options tables, and a
 * read-only login with a password, as a site owner would give the import.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { trackOpen } from './open-resources.js';

const serverUrl = new URL(process.env.CRM_BRIDGE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306');

/** PHP's serialize() for the shapes WordPress stores: arrays (integer keys stay integers), strings, ints, booleans. */
export function phpSerialize(value: unknown): string {
  if (value === null || value === undefined) return 'N;';
  if (typeof value === 'boolean') return `b:${value ? 1 : 0};`;
  if (typeof value === 'number') return Number.isInteger(value) ? `i:${value};` : `d:${value};`;
  if (typeof value === 'string') return `s:${Buffer.byteLength(value, 'utf8')}:"${value}";`;
  const entries = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value as Record<string, unknown>);
  const body = entries
    .map(
      ([key, item]) =>
        `${/^(0|-?[1-9]\d*)$/.test(key) ? `i:${key};` : phpSerialize(key)}${phpSerialize(item)}`,
    )
    .join('');
  return `a:${entries.length}:{${body}}`;
}

interface WordPressUserFixture {
  login: string;
  email: string;
  pass: string;
  displayName?: string;
  registered?: string;
  meta?: Record<string, string>;
}

export interface WordPressSite {
  readonly database: string;
  /** mysql://reader:password@host:port/database */
  readonly url: string;
  /** The reader's password, which no output may show. */
  readonly password: string;
  addUser(user: WordPressUserFixture): Promise<number>;
  setOption(name: string, value: string): Promise<void>;
  query(text: string, values?: unknown[]): Promise<void>;
  drop(): Promise<void>;
}

const SCHEMA = (prefix: string) => [
  `CREATE TABLE ${prefix}users (
    ID bigint(20) unsigned NOT NULL auto_increment,
    user_login varchar(60) NOT NULL default '',
    user_pass varchar(255) NOT NULL default '',
    user_nicename varchar(50) NOT NULL default '',
    user_email varchar(100) NOT NULL default '',
    user_url varchar(100) NOT NULL default '',
    user_registered datetime NOT NULL default '0000-00-00 00:00:00',
    user_activation_key varchar(255) NOT NULL default '',
    user_status int(11) NOT NULL default '0',
    display_name varchar(250) NOT NULL default '',
    PRIMARY KEY (ID),
    KEY user_login_key (user_login),
    KEY user_nicename (user_nicename),
    KEY user_email (user_email)
  ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`,
  `CREATE TABLE ${prefix}usermeta (
    umeta_id bigint(20) unsigned NOT NULL auto_increment,
    user_id bigint(20) unsigned NOT NULL default '0',
    meta_key varchar(255) default NULL,
    meta_value longtext,
    PRIMARY KEY (umeta_id),
    KEY user_id (user_id),
    KEY meta_key (meta_key(191))
  ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`,
  `CREATE TABLE ${prefix}options (
    option_id bigint(20) unsigned NOT NULL auto_increment,
    option_name varchar(191) NOT NULL default '',
    option_value longtext NOT NULL,
    autoload varchar(20) NOT NULL default 'yes',
    PRIMARY KEY (option_id),
    UNIQUE KEY option_name (option_name),
    KEY autoload (autoload)
  ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`,
];

export async function createWordPressSite(prefix = 'wp_'): Promise<WordPressSite> {
  const suffix = randomBytes(5).toString('hex');
  const database = `wp_test_${suffix}`;
  const reader = `wpimport_${suffix}`;
  const password = `Db-${randomBytes(9).toString('base64url')}`;
  const root = await mysql.createConnection({
    host: serverUrl.hostname,
    port: Number(serverUrl.port || 3306),
    user: decodeURIComponent(serverUrl.username || 'root'),
    password: decodeURIComponent(serverUrl.password),
    charset: 'utf8mb4',
  });
  const closed = trackOpen('a WordPress test database');
  try {
    await root.query(`CREATE DATABASE ${database} CHARACTER SET utf8mb4`);
    await root.query(`USE ${database}`);
    for (const statement of SCHEMA(prefix)) await root.query(statement);
    // The import only reads: a login that can do nothing else, as a careful site owner would give.
    await root.query(`CREATE USER '${reader}'@'%' IDENTIFIED BY '${password}'`);
    await root.query(`GRANT SELECT ON ${database}.* TO '${reader}'@'%'`);
  } catch (error) {
    await root.end();
    closed();
    throw error;
  }
  const url = `mysql://${reader}:${encodeURIComponent(password)}@${serverUrl.hostname}:${serverUrl.port || 3306}/${database}`;
  return {
    database,
    url,
    password,
    async addUser(user) {
      const [result] = await root.query(
        `INSERT INTO ${prefix}users (user_login, user_pass, user_nicename, user_email, user_registered, display_name)
         VALUES (?, ?, ?, ?, ?, ?)`,
        [
          user.login,
          user.pass,
          user.login.toLowerCase(),
          user.email,
          user.registered ?? '2020-01-02 03:04:05',
          user.displayName ?? user.login,
        ],
      );
      const id = (result as { insertId: number }).insertId;
      for (const [key, value] of Object.entries(user.meta ?? {}))
        await root.query(
          `INSERT INTO ${prefix}usermeta (user_id, meta_key, meta_value) VALUES (?, ?, ?)`,
          [id, key, value],
        );
      return id;
    },
    async setOption(name, value) {
      await root.query(
        `INSERT INTO ${prefix}options (option_name, option_value, autoload) VALUES (?, ?, 'yes')
         ON DUPLICATE KEY UPDATE option_value = VALUES(option_value)`,
        [name, value],
      );
    },
    async query(text, values) {
      await root.query(text, values);
    },
    async drop() {
      try {
        await root.query(`DROP DATABASE IF EXISTS ${database}`);
        await root.query(`DROP USER IF EXISTS '${reader}'@'%'`);
      } finally {
        await root.end();
        closed();
      }
    },
  };
}
