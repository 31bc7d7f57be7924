/** Tag labels per connection, so users see "Customer" rather than "3". */
import { chunked } from '../lib/chunks.js';
import type { Db } from '../storage/schema.js';

export async function getTagLabels(
  db: Db,
  connectionId: string,
  tagIds: readonly string[],
): Promise<Map<string, string>> {
  const labels = new Map<string, string>();
  for (const chunk of chunked(tagIds)) {
    const rows = await db
      .selectFrom('tags')
      .select(['tag_id', 'label'])
      .where('connection_id', '=', connectionId)
      .where('tag_id', 'in', chunk)
      .execute();
    for (const row of rows) labels.set(row.tag_id, row.label);
  }
  return labels;
}

export async function saveTagLabels(
  db: Db,
  connectionId: string,
  tags: ReadonlyArray<{ id: string; label: string }>,
  at: string,
): Promise<void> {
  // Deduplicate so one statement never upserts the same key twice (PostgreSQL refuses that).
  const unique = [...new Map(tags.map((tag) => [tag.id, tag])).values()];
  for (const chunk of chunked(unique)) {
    await db
      .insertInto('tags')
      .values(
        chunk.map((tag) => ({
          connection_id: connectionId,
          tag_id: tag.id,
          label: tag.label,
          updated_at: at,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['connection_id', 'tag_id']).doUpdateSet((eb) => ({
          label: eb.ref('excluded.label'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

/** Tag ids by label, for tags a webhook names by label (the first id when labels repeat). */
export async function findTagIdsByLabel(
  db: Db,
  connectionId: string,
  labels: readonly string[],
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const chunk of chunked([...new Set(labels)])) {
    const rows = await db
      .selectFrom('tags')
      .select(['tag_id', 'label'])
      .where('connection_id', '=', connectionId)
      .where('label', 'in', chunk)
      .orderBy('tag_id')
      .execute();
    for (const row of rows) if (!ids.has(row.label)) ids.set(row.label, row.tag_id);
  }
  return ids;
}

/** Every stored tag label, by connection and label (what "Refresh tag list" stored). */
export function listStoredTags(
  db: Db,
): Promise<Array<{ connection_id: string; tag_id: string; label: string }>> {
  return db
    .selectFrom('tags')
    .select(['connection_id', 'tag_id', 'label'])
    .orderBy('connection_id')
    .orderBy('label')
    .execute();
}
