/**
 * Coalescing: every webhook of one contact that is due is served by one run.
 * Pure: from the events' stored parameters to what the run must do.
 */
import type { ContactData } from '../connectors/types.js';
import { strongestAction, type Action } from '../inbox/actions.js';
import type { StoredParams } from '../inbox/stored-params.js';

export interface RunPlan {
  action: Action;
  contactId: string;
  role: string | undefined;
  sendNotification: boolean;
  /** The e-mail parameter for the fallback lookup (the newest one given). */
  email: string | undefined;
  /** The webhooks' snapshots merged in arrival order, newest winning. */
  snapshot: ContactData | undefined;
  /** Whether the newest webhook that said anything about tags carried them. */
  snapshotHasTags: boolean;
}

export interface PlanOptions {
  /** The connection can load a contact's tags from its CRM (false for the payload connector). */
  canLoadTags: boolean;
}

/**
 * A webhook speaks about tags when it carries them, or when it is an
 * `update_tags` to a connection that can load them: then it says "the tags
 * changed, load them", and any tags an older webhook carried are stale.
 */
function speaksAboutTags(event: StoredParams, options: PlanOptions): boolean {
  return (
    event.contact?.tags !== undefined || (event.action === 'update_tags' && options.canLoadTags)
  );
}

/** Plans one run from the due events of a contact, given in arrival order. */
export function planRun(
  events: readonly StoredParams[],
  options: PlanOptions = { canLoadTags: true },
): RunPlan {
  const first = events[0];
  if (!first) throw new Error('planRun needs at least one event');
  let role: string | undefined;
  let email: string | undefined;
  let sendNotification = false;
  let snapshot: ContactData | undefined;
  for (const event of events) {
    // `role` belongs to add and update; an update_tags that happens to carry one must not demote anyone.
    if (event.action !== 'update_tags' && event.role?.trim()) role = event.role.trim();
    if (event.email?.trim()) email = event.email.trim();
    if (event.action === 'add' && event.sendNotification) sendNotification = true;
    if (event.contact) snapshot = mergeSnapshots(snapshot, event.contact);
    if (speaksAboutTags(event, options) && snapshot)
      snapshot = { ...snapshot, tags: event.contact?.tags };
  }
  return {
    action: strongestAction(events.map((event) => event.action)),
    contactId: first.contactId,
    role,
    sendNotification,
    email,
    snapshot,
    snapshotHasTags: snapshot?.tags !== undefined,
  };
}

function mergeSnapshots(older: ContactData | undefined, newer: ContactData): ContactData {
  if (!older) return newer;
  return {
    id: newer.id,
    email: newer.email ?? older.email,
    fields: { ...older.fields, ...newer.fields },
    tags: newer.tags ?? older.tags,
    tagLabels: { ...older.tagLabels, ...newer.tagLabels },
  };
}
