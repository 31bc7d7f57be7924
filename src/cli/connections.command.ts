/**
 * `crm-bridge connections …`: add, change, list and check CRM connections.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import {
  changeConnection,
  createConnection,
  refreshTagLabels,
  isSecretSetting,
  maskConnectionSettings,
} from '../connections/connection-admin.js';
import {
  deleteConnection,
  findConnection,
  listConnections,
} from '../connections/connection.repository.js';
import { createConnectionRegistry } from '../connections/registry.js';
import { CONNECTOR_TYPES, connectorDefinition } from '../connectors/index.js';
import type { CliDeps } from './deps.js';
import { formatTable } from './output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Reads `key=value` text into a setting value: booleans and numbers where the key calls for them. */
function coerce(key: string, value: string): unknown {
  if (key === 'return_password' || key === 'allow_insecure_http')
    return ['true', '1', 'yes', 'on'].includes(value.toLowerCase());
  if (
    ['rate_limit_per_minute', 'rate_limit_requests', 'rate_limit_window_ms', 'timeout_ms'].includes(
      key,
    )
  )
    return Number(value);
  return value;
}

/**
 * A credential given as `@/path/to/file` is read from that file (trailing line
 * breaks dropped), so it never appears in `ps` or shell history; `@@` stands
 * for a value that really starts with `@`.
 */
function readCredentialFiles(
  pairs: readonly string[],
  isSecret: (key: string) => boolean,
): string[] {
  return pairs.map((pair) => {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1);
    if (at <= 0 || !isSecret(key) || !value.startsWith('@')) return pair;
    if (value.startsWith('@@')) return `${key}=${value.slice(1)}`;
    const file = value.slice(1);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(
        `cannot read ${key} from ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    return `${key}=${text.replace(/[\r\n]+$/, '')}`;
  });
}

/** Applies `key=value` pairs to stored settings; `map.<field>=<target>` edits the field mapping. */
function applySettingPairs(
  settings: Record<string, unknown>,
  pairs: readonly string[],
): Record<string, unknown> {
  const next: Record<string, unknown> = {
    ...settings,
    field_map: { ...(settings.field_map as Record<string, string> | undefined) },
  };
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`expected key=value, got "${pair}"`);
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1);
    if (key.startsWith('map.')) {
      (next.field_map as Record<string, string>)[key.slice(4)] = value.trim();
    } else {
      next[key] = coerce(key, value);
    }
  }
  return next;
}

export function registerConnectionCommands(
  program: Command,
  { io, clock, withDb, print }: CliDeps,
): void {
  const connectorTypes = CONNECTOR_TYPES;
  const connections = program.command('connections').description('CRM connections');

  connections
    .command('add <type>')
    .description(`add a connection (${connectorTypes.join(', ')})`)
    .option('--id <id>', 'connection id used in /webhooks/<id> (default: the type)')
    .option('--name <name>', 'display name')
    .option('--api-url <url>', 'the CRM API base URL (FunnelKit: the CRM site URL)')
    .option('--set <key=value>', 'a setting (repeatable), e.g. api_key=…', collect, [])
    .option('--default', 'webhooks to / use this connection')
    .action(
      (
        type: string,
        options: { id?: string; name?: string; apiUrl?: string; set: string[]; default?: boolean },
        command: Command,
      ) =>
        withDb(command, async ({ db }, config, sealer) => {
          const definition = connectorDefinition(type);
          if (!definition)
            throw new Error(`unknown CRM type "${type}"; known: ${connectorTypes.join(', ')}`);
          const id = options.id ?? type;
          const settings = applySettingPairs(
            {},
            readCredentialFiles(options.set, (key) => isSecretSetting(definition, key)),
          );
          await createConnection(
            { db, clock, sealer, secretOverrides: config.secretOverrides },
            {
              id,
              type,
              name: options.name,
              apiUrl: options.apiUrl,
              settings,
              makeDefault: options.default,
            },
          );
          io.out(`connection ${id} (${type}) added; webhooks: /webhooks/${id}`);
        }),
    );

  connections
    .command('set <id> <pairs...>')
    .description(
      'change settings: key=value, map.<CRM field>=<user field or meta key>, api_url=…, name=…, default=true',
    )
    .action((id: string, pairs: string[], _options: unknown, command: Command) =>
      withDb(command, async ({ db }, config, sealer) => {
        const row = await findConnection(db, id);
        if (!row) throw new Error(`no connection "${id}"`);
        const definition = connectorDefinition(row.type);
        if (!definition) throw new Error(`connection "${id}" has unknown type ${row.type}`);
        const special = new Map<string, string>();
        const rest = pairs.filter((pair) => {
          const key = pair.split('=')[0] ?? '';
          if (['api_url', 'name', 'default'].includes(key)) {
            special.set(key, pair.slice(key.length + 1));
            return false;
          }
          return true;
        });
        const changes = readCredentialFiles(rest, (key) => isSecretSetting(definition, key));
        await changeConnection({ db, clock, sealer, secretOverrides: config.secretOverrides }, id, {
          settings: (current) => applySettingPairs(current, changes),
          apiUrl: special.has('api_url') ? special.get('api_url') || null : undefined,
          name: special.get('name'),
          makeDefault: special.get('default') === 'true',
        });
        io.out(`connection ${id} updated`);
      }),
    );

  connections
    .command('list')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const rows = await listConnections(db);
        const views = rows.map((row) => ({
          id: row.id,
          type: row.type,
          name: row.name,
          apiUrl: row.api_url,
          default: row.is_default === 1,
          settings: maskConnectionSettings(
            row.type,
            JSON.parse(row.settings) as Record<string, unknown>,
          ),
        }));
        print(views, options.json, () =>
          rows.length === 0
            ? 'no connections: webhooks use the built-in payload connection (contact data in the webhook)'
            : formatTable(
                ['id', 'type', 'default', 'api url', 'name'],
                views.map((v) => [v.id, v.type, v.default ? 'yes' : '', v.apiUrl ?? '', v.name]),
              ),
        );
      }),
    );

  connections.command('remove <id>').action((id: string, _options: unknown, command: Command) =>
    withDb(command, async ({ db }) => {
      if (!(await deleteConnection(db, id))) throw new Error(`no connection "${id}"`);
      io.out(`connection ${id} removed`);
    }),
  );

  const withConnector = (
    name: string,
    description: string,
    run: (
      connection: Awaited<ReturnType<ReturnType<typeof createConnectionRegistry>['resolve']>>,
      json: boolean | undefined,
      db: Parameters<typeof createConnectionRegistry>[0],
    ) => Promise<void>,
  ) =>
    connections
      .command(`${name} <id>`)
      .description(description)
      .option('--json', 'print JSON')
      .action((id: string, options: { json?: boolean }, command: Command) =>
        withDb(command, async ({ db }, config, sealer) => {
          const registry = createConnectionRegistry(db, clock, {
            settingOverrides: config.settingOverrides,
            secretOverrides: config.secretOverrides,
            sealer,
          });
          await run(await registry.resolve(id), options.json, db);
        }),
      );

  withConnector('test', 'check the credentials against the CRM', async (connection) => {
    await connection.connector.testConnection();
    io.out(`connection ${connection.id}: OK`);
  });
  withConnector(
    'tags',
    'list the CRM tags (id and label) and keep their labels',
    async (connection, json, db) => {
      const tags = await refreshTagLabels({ db, clock }, connection);
      print(tags, json, () =>
        formatTable(
          ['id', 'label'],
          tags.map((t) => [t.id, t.label]),
        ),
      );
    },
  );
  withConnector(
    'fields',
    'list the CRM fields and the current mapping',
    async (connection, json) => {
      const fields = await connection.connector.listFields();
      const rows = fields.map((f) => ({
        ...f,
        mappedTo:
          (Object.hasOwn(connection.fieldMap, f.id) ? connection.fieldMap[f.id] : undefined) ?? '',
      }));
      print(rows, json, () =>
        formatTable(
          ['id', 'label', 'type', 'mapped to'],
          rows.map((f) => [f.id, f.label, f.type ?? '', f.mappedTo]),
        ),
      );
    },
  );
}
