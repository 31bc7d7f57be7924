/** A user's tags of one connection made equal to a contact's, reported by label. */
import type { Db } from '../storage/schema.js';
import { getTagLabels } from './tag.repository.js';
import { addUserTags, getUserTagIds, removeUserTags } from './user.repository.js';

export interface TagReport {
  added: string[];
  removed: string[];
  current: string[];
}

export interface TagDiff {
  added: string[];
  removed: string[];
}

export function diffTags(current: readonly string[], next: readonly string[]): TagDiff {
  const have = new Set(current);
  const want = new Set(next);
  return {
    added: [...want].filter((tag) => !have.has(tag)),
    removed: [...have].filter((tag) => !want.has(tag)),
  };
}

/** Makes the contact's tags the user's tag set for this connection; undefined leaves them alone. */
export async function applyTags(
  db: Db,
  connectionId: string,
  userId: number,
  tagIds: readonly string[] | undefined,
  labels: ReadonlyMap<string, string> | undefined,
  at: string,
): Promise<TagReport> {
  const current = await getUserTagIds(db, userId, connectionId);
  const label = async (ids: readonly string[]) => {
    const known = labels ?? (await getTagLabels(db, connectionId, ids));
    const stored = await getTagLabels(
      db,
      connectionId,
      ids.filter((id) => !known.has(id)),
    );
    return ids.map((id) => known.get(id) ?? stored.get(id) ?? id);
  };
  if (tagIds === undefined) return { added: [], removed: [], current: await label(current) };
  const diff = diffTags(current, tagIds);
  await addUserTags(db, userId, connectionId, diff.added, at);
  await removeUserTags(db, userId, connectionId, diff.removed);
  return {
    added: await label(diff.added),
    removed: await label(diff.removed),
    current: await label([...new Set(tagIds)]),
  };
}
