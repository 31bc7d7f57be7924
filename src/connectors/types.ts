/**
 * The one contract every CRM connector implements. A connector knows how its
 * CRM sends webhooks and how to talk to its API; nothing CRM-specific lives
 * outside its folder.
 */
import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { HttpClient } from './http-client.js';

/** CRM field id → user field or meta key. */
export type FieldMap = Readonly<Record<string, string>>;

export interface RateLimit {
  /** Requests allowed per window, for one connection. */
  readonly requests: number;
  readonly windowMs: number;
}

/** A contact as loaded from a CRM (or carried by the webhook itself). */
export interface ContactData {
  readonly id: string;
  readonly email?: string | undefined;
  /** CRM field id → value as text. */
  readonly fields: Readonly<Record<string, string>>;
  /** Tag ids in the CRM's own form; undefined when the source says nothing about tags. */
  readonly tags?: readonly string[] | undefined;
  /** Labels the source already knows, by tag id. */
  readonly tagLabels?: Readonly<Record<string, string>> | undefined;
}

export interface CrmTag {
  readonly id: string;
  readonly label: string;
}

export interface CrmField {
  readonly id: string;
  readonly label: string;
  readonly type?: string | undefined;
}

/** The parts of an HTTP request a connector may read to find its contact. */
export interface WebhookInput {
  readonly method: string;
  /** Query and body merged, body winning; scalar values as text. */
  readonly params: Readonly<Record<string, string>>;
  /** The parsed body when it was JSON (any shape). */
  readonly json: unknown;
}

export interface ParsedWebhook {
  readonly contactId?: string | undefined;
  readonly email?: string | undefined;
  /** A contact snapshot carried by the webhook (payload senders, CRMs that send tags). */
  readonly contact?: ContactData | undefined;
}

/** One page of a CRM's contacts, as an import reads them. */
interface ContactPage {
  /** Ids of the contacts on this page (only those with the tag, when one was asked for). */
  readonly contactIds: readonly string[];
  /** Where the next page starts (opaque text to hand back); null after the last page. */
  readonly next: string | null;
}

interface ListContactsOptions {
  /** Only contacts with this tag (the CRM's tag id, as `listTags` gives it); all when absent. */
  readonly tagId?: string | undefined;
  /** The `next` of the previous page; null for the first page. */
  readonly cursor: string | null;
}

/** What a run gives each CRM call it makes: its abort signal, which ends the call when the run loses its lease. */
interface CrmCall {
  readonly signal?: AbortSignal | undefined;
}

export interface CrmConnector {
  readonly type: string;
  /** Finds the contact a webhook is about. Pure: no I/O. */
  parseWebhook(input: WebhookInput): ParsedWebhook;
  /**
   * True when the request carries this CRM's own payload shape. Lets a webhook to
   * `/` find its connection when several exist and none is the default; CRMs whose
   * webhooks are plain parameters leave it out. Pure.
   */
  recognizesWebhook?(input: WebhookInput): boolean;
  /** Loads a contact by id; throws AppError CONTACT_NOT_FOUND when the CRM has none. */
  loadContact(contactId: string, call?: CrmCall): Promise<ContactData>;
  getContactTags(contactId: string): Promise<string[]>;
  /** Finds a contact id by e-mail, or null. */
  findContactByEmail(email: string): Promise<string | null>;
  listTags(call?: CrmCall): Promise<CrmTag[]>;
  listFields(): Promise<CrmField[]>;
  /** Writes fields to a contact (Return Password and the like). */
  updateContact(
    contactId: string,
    fields: Readonly<Record<string, string>>,
    call?: CrmCall,
  ): Promise<void>;
  /** Checks that the credentials work; throws with the CRM's message when they do not. */
  testConnection(): Promise<void>;
  /**
   * Lists contacts page by page, for imports; absent when the CRM has no API
   * to list them (payload senders). A page may be empty while `next` is not.
   */
  listContacts?(options: ListContactsOptions): Promise<ContactPage>;
}

/**
 * What `create` gets besides its connection.
 * @public (named in the connectors' declarations)
 */
export interface ConnectorDeps {
  readonly http: HttpClient;
  readonly clock: Clock;
}

/** A configured connection as a connector sees it. */
export interface ConnectionConfig<S> {
  readonly id: string;
  readonly apiUrl: string | null;
  readonly settings: S;
}

/** How a site owner enters the webhook in the CRM, for the ready-made URLs of the admin pages. */
export interface WebhookSetup {
  /** `url`: everything in the URL's query; `rows`: one data row per parameter (the CRM's form). */
  readonly style: 'url' | 'rows';
  /** The CRM's merge field for the contact id, when the id travels as a parameter. */
  readonly contactIdMergeField?: string | undefined;
  /** One sentence on where the URL goes in the CRM. */
  readonly note: string;
}

/** What each connector folder exports. */
export interface ConnectorDefinition<S = Record<string, unknown>> {
  readonly type: string;
  readonly label: string;
  /** Validates the connection's connector-specific settings (credentials and options). */
  readonly settingsSchema: z.ZodType<S>;
  /** Setting keys that are secrets: never logged, masked when shown. */
  readonly secretSettings: readonly string[];
  readonly defaultApiUrl: string | null;
  readonly defaultFieldMap: FieldMap;
  readonly defaultRateLimit: RateLimit;
  /** Where a run gets the contact: from the webhook itself (payload senders) or from the CRM API. */
  readonly contactSource: 'webhook' | 'api';
  /** Fields not in the mapping become meta of the same name (payload senders). */
  readonly unmappedFieldsAsMeta: boolean;
  /** Timeout for one API call. */
  readonly timeoutMs: number;
  readonly webhookSetup: WebhookSetup;
  create(connection: ConnectionConfig<S>, deps: ConnectorDeps): CrmConnector;
}
