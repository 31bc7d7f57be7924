/** Configured CRM connections. */
import type { Db, ConnectionRow } from '../storage/schema.js';

export function listConnections(db: Db): Promise<ConnectionRow[]> {
  return db.selectFrom('connections').selectAll().orderBy('created_at').orderBy('id').execute();
}

export function findConnection(db: Db, id: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertConnection(db: Db, row: ConnectionRow): Promise<void> {
  await db.insertInto('connections').values(row).execute();
}

export async function updateConnection(
  db: Db,
  id: string,
  changes: Partial<Pick<ConnectionRow, 'name' | 'api_url' | 'settings' | 'is_default'>>,
  at: string,
): Promise<void> {
  await db
    .updateTable('connections')
    .set({ ...changes, updated_at: at })
    .where('id', '=', id)
    .execute();
}

/** Makes `id` the only default connection. */
export async function setDefaultConnection(db: Db, id: string, at: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('connections')
      .set({ is_default: 0 })
      .where('is_default', '=', 1)
      .execute();
    await trx
      .updateTable('connections')
      .set({ is_default: 1, updated_at: at })
      .where('id', '=', id)
      .execute();
  });
}

export async function deleteConnection(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('connections').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
