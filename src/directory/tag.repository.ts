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
