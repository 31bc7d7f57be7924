/**
 * The payload connector's API side: there is no CRM behind it. Loads and
 * writes are refused with a message saying where the data must come from;
 * look-ups answer "nothing", so the shared code paths need no special case.
 */
import { AppError } from '../../errors.js';
import type { CrmConnector } from '../types.js';

const noApi = (what: string): never => {
  throw new AppError(
    'CRM_REJECTED',
    `the payload connector has no CRM API to ${what}; send the data in the webhook`,
  );
};

export type PayloadClient = Omit<CrmConnector, 'type' | 'parseWebhook'>;

export function createPayloadClient(): PayloadClient {
  return {
    loadContact: () => noApi('load contacts'),
    getContactTags: () => noApi('load tags'),
    findContactByEmail: () => Promise.resolve(null),
    listTags: () => Promise.resolve([]),
    listFields: () => Promise.resolve([]),
    updateContact: () => noApi('update contacts'),
    testConnection: () => Promise.resolve(),
  };
}
