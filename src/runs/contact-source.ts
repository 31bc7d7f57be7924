/** Where a run's contact comes from: the webhook, when it carries what the action needs, or the CRM. */
import type { Connection } from '../connections/registry.js';
import type { ContactData } from '../connectors/types.js';
import type { RunPlan } from './plan.js';

export function contactSourceOf(connection: Connection, plan: RunPlan): 'webhook' | 'api' {
  return plan.action === 'update_tags' && plan.snapshotHasTags
    ? 'webhook'
    : connection.definition.contactSource;
}

/** The contact from the webhook when it carries what the action needs, else from the CRM API. */
export async function gatherContact(
  connection: Connection,
  plan: RunPlan,
  signal?: AbortSignal,
): Promise<ContactData> {
  if (connection.definition.contactSource === 'webhook') {
    return plan.snapshot ?? { id: plan.contactId, fields: {} };
  }
  if (plan.action === 'update_tags' && plan.snapshot && plan.snapshotHasTags) return plan.snapshot;
  const loaded = await connection.connector.loadContact(plan.contactId, { signal });
  // An `update` whose webhook named the tags (WP Fusion's `tags` parameter) takes them over the CRM's.
  if (plan.action === 'update' && plan.tagsByReference && plan.snapshot?.tags)
    return { ...loaded, tags: plan.snapshot.tags, tagLabels: undefined };
  return loaded;
}
