import type { ContactData } from '../connectors/types.js';
import type { Action } from './actions.js';

/** What the intake stores for each accepted webhook (the event's `params` column). */
export interface StoredParams {
  action: Action;
  contactId: string;
  email?: string | undefined;
  role?: string | undefined;
  sendNotification: boolean;
  async: boolean;
  /** A contact snapshot the webhook carried, if any. */
  contact?: ContactData | undefined;
  /** Every parameter received, but the access key. */
  raw: Record<string, string>;
}
