/**
 * The contract every CRM connector must pass, run unchanged against each
 * CRM's fake server. A connector's test file supplies an adapter that knows
 * how to seed its fake and how its CRM sends webhooks; the suite only speaks
 * the CrmConnector interface. A connector without an API (payload) passes the
 * webhook part and shows its documented "no API" answers instead. A connector
 * that lists contacts (for imports) also pages through them, with and
 * without a tag filter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createHttpClient } from '../../src/connectors/http-client.js';
import type {
  ConnectorDefinition,
  CrmConnector,
  ParsedWebhook,
  WebhookInput,
} from '../../src/connectors/types.js';
import { AppError } from '../../src/errors.js';
import { mergeParams } from '../../src/webhook/params.js';
import {
  parseBody,
  startFakeHttpServer,
  type InjectedFailure,
  type RecordedRequest,
} from '../fakes/fake-http.js';

interface SeedContact {
  email: string;
  firstName: string;
  lastName: string;
  /** Tag labels; the adapter creates the tags in the fake as needed. */
  tags: string[];
}

/** One webhook as the CRM sends it, and the contact parseWebhook must find in it. */
interface WebhookCase {
  name: string;
  /** Sends the webhook to `url` the way the CRM does (the fake's driver, over a real socket). */
  send(url: string): Promise<Response>;
  expected: Pick<ParsedWebhook, 'contactId' | 'email'>;
}

interface WebhookAdapter {
  /** The connector definition under test. */
  definition: ConnectorDefinition;
  /** Settings and API URL good enough to create the connector without a running fake. */
  offline: { apiUrl: string | null; settings: Record<string, unknown> };
  /** The CRM's real webhook shapes. */
  webhooks: WebhookCase[];
}

/** A connector with no CRM API: the API methods give the documented answers. */
export interface NoApiContractAdapter extends WebhookAdapter {
  noApi: true;
}

export interface ContractAdapter extends WebhookAdapter {
  /** Starts the fake; returns what the connection needs. */
  start(): Promise<{
    apiUrl: string;
    settings: Record<string, unknown>;
    badSettings: Record<string, unknown>;
  }>;
  stop(): Promise<void>;
  /** Adds a contact to the fake; returns its contact id as the connector will see it. */
  seed(contact: SeedContact): string | Promise<string>;
  /** A contact id the CRM does not have. */
  unknownContactId: string;
  /** A writable CRM field (for Return Password) and how to read it back from the fake. */
  writableField: string;
  readField(contactId: string, field: string): string | undefined | Promise<string | undefined>;
  /** Queue a failure on the fake for the next request whose path contains `pathPart`. */
  failNext(failure: InjectedFailure, count?: number): void;
  /** The CRM's own 429 answer, and the wait (ms) the connector must read from it. */
  rateLimited: { failure: InjectedFailure; retryAfterMs: number };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  return error as AppError;
}

/** A received request as the intake hands it to a connector: query and body merged, the parsed body as `json`. */
function webhookInput(request: RecordedRequest): WebhookInput {
  const body = parseBody(request);
  return {
    method: request.method,
    params: mergeParams(Object.fromEntries(request.query), body),
    json: body,
  };
}

/** The connector made from the offline settings: enough to parse webhooks and see what it offers. */
function offlineConnector(name: string, adapter: WebhookAdapter): CrmConnector {
  const settings = adapter.definition.settingsSchema.parse(adapter.offline.settings);
  return adapter.definition.create(
    { id: name, apiUrl: adapter.offline.apiUrl, settings },
    { http: createHttpClient({ timeoutMs: 100 }), clock: systemClock },
  );
}

/** Every id `listContacts` gives, page after page, and how many pages it took (at most 100). */
async function listAll(connector: CrmConnector, tagId?: string) {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await connector.listContacts!({ tagId, cursor });
    ids.push(...page.contactIds);
    cursor = page.next;
    pages += 1;
  } while (cursor !== null && pages < 100);
  return { ids, pages, ended: cursor === null };
}

function webhookContract(name: string, adapter: WebhookAdapter): void {
  describe(`${name} connector contract: webhooks`, () => {
    const connector = () => offlineConnector(name, adapter);

    it('has a real webhook shape to test against', () => {
      expect(adapter.webhooks.length).toBeGreaterThan(0);
    });

    for (const webhook of adapter.webhooks) {
      it(`finds the contact in ${webhook.name}`, async () => {
        const receiver = await startFakeHttpServer(() => ({ status: 200, body: {} }));
        try {
          await webhook.send(receiver.url);
          const request = receiver.requests.at(-1);
          expect(request).toBeDefined();
          const parsed = connector().parseWebhook(webhookInput(request!));
          expect({ contactId: parsed.contactId, email: parsed.email }).toEqual(webhook.expected);
          // A snapshot, when sent, is of the same contact.
          if (parsed.contact) expect(parsed.contact.id).toBe(parsed.contactId);
        } finally {
          await receiver.close();
        }
      });
    }

    it('finds no contact in a webhook that names none', () => {
      const parsed = connector().parseWebhook({
        method: 'POST',
        params: { wpf_action: 'add', access_key: 'k' },
        json: {},
      });
      expect(parsed.contactId).toBeUndefined();
      expect(parsed.email).toBeUndefined();
    });
  });
}

/** The contract for a connector without a CRM API: webhooks, then the documented "no API" answers. */
export function noApiConnectorContract(name: string, adapter: NoApiContractAdapter): void {
  webhookContract(name, adapter);
  describe(`${name} connector contract: no API`, () => {
    const connector = offlineConnector(name, adapter);

    it('takes the contact from the webhook', () => {
      expect(adapter.definition.contactSource).toBe('webhook');
    });

    it('refuses to load or write contacts, as permanent rejections', async () => {
      const calls = [
        () => connector.loadContact('1'),
        () => connector.getContactTags('1'),
        () => connector.updateContact('1', { a: 'b' }),
      ];
      for (const call of calls) {
        // Thrown or rejected, the caller awaits it either way.
        const error = await expectCode((async () => call())(), 'CRM_REJECTED');
        expect(error.retryable).toBe(false);
        expect(error.message).toMatch(/no CRM API/);
      }
    });

    it('answers look-ups with nothing, and a connection test with success', async () => {
      expect(await connector.findContactByEmail('jane@example.com')).toBeNull();
      expect(await connector.listTags()).toEqual([]);
      expect(await connector.listFields()).toEqual([]);
      await expect(connector.testConnection()).resolves.toBeUndefined();
    });

    it('has no contact list, so imports refuse it', () => {
      expect(connector.listContacts === undefined).toBe(true);
    });
  });
}

export function connectorContract(name: string, adapter: ContractAdapter): void {
  webhookContract(name, adapter);
  describe(`${name} connector contract`, () => {
    let connector: CrmConnector;
    let bad: CrmConnector;
    let jane = '';

    const make = (
      apiUrl: string,
      settings: Record<string, unknown>,
      timeoutMs = 2_000,
    ): CrmConnector => {
      const parsed = adapter.definition.settingsSchema.parse(settings);
      return adapter.definition.create(
        { id: name, apiUrl, settings: parsed },
        { http: createHttpClient({ timeoutMs }), clock: systemClock },
      );
    };

    beforeAll(async () => {
      const { apiUrl, settings, badSettings } = await adapter.start();
      connector = make(apiUrl, settings, 1_000);
      bad = make(apiUrl, badSettings);
      jane = await adapter.seed({
        email: 'jane.contract@example.com',
        firstName: 'Jane',
        lastName: 'Doe',
        tags: ['Customer', 'VIP'],
      });
    });
    afterAll(() => adapter.stop());

    it('checks its credentials', async () => {
      await expect(connector.testConnection()).resolves.toBeUndefined();
      const error = await expectCode(bad.testConnection(), 'CRM_AUTH_FAILED');
      expect(error.retryable).toBe(false);
    });

    it('loads a contact with its e-mail, mapped names and tags', async () => {
      const contact = await connector.loadContact(jane);
      expect(contact.id).toBe(jane);
      expect(contact.email?.toLowerCase()).toBe('jane.contract@example.com');
      const map = adapter.definition.defaultFieldMap;
      const byTarget = (target: string) => Object.entries(map).find(([, to]) => to === target)?.[0];
      const first = byTarget('first_name');
      const last = byTarget('last_name');
      expect(first && contact.fields[first]).toBe('Jane');
      expect(last && contact.fields[last]).toBe('Doe');
      const tags = await connector.listTags();
      const labels = (contact.tags ?? []).map(
        (id) => tags.find((tag) => tag.id === id)?.label ?? contact.tagLabels?.[id],
      );
      expect(labels.sort()).toEqual(['Customer', 'VIP']);
      expect((await connector.getContactTags(jane)).sort()).toEqual(
        [...(contact.tags ?? [])].sort(),
      );
    });

    it('finds a contact by e-mail, and answers null for an unknown one', async () => {
      expect(await connector.findContactByEmail('jane.contract@example.com')).toBe(jane);
      expect(await connector.findContactByEmail('nobody.contract@example.com')).toBeNull();
    });

    it('lists fields for the mapping', async () => {
      const fields = await connector.listFields();
      expect(fields.length).toBeGreaterThan(0);
      expect(fields.some((field) => field.id === adapter.writableField)).toBe(true);
    });

    it('writes a field (Return Password)', async () => {
      await connector.updateContact(jane, { [adapter.writableField]: 'Gen3rated-Pass' });
      expect(await adapter.readField(jane, adapter.writableField)).toBe('Gen3rated-Pass');
    });

    it('ends the calls a run makes once the run is aborted (it lost its contact\u2019s lease)', async () => {
      const lost = new AbortController();
      lost.abort(new AppError('LEASE_LOST', 'another worker holds the contact'));
      const call = { signal: lost.signal };
      await expectCode(connector.loadContact(jane, call), 'LEASE_LOST');
      await expectCode(connector.listTags(call), 'LEASE_LOST');
      await expectCode(
        connector.updateContact(jane, { [adapter.writableField]: 'Stale-Pass-1' }, call),
        'LEASE_LOST',
      );
      expect(await adapter.readField(jane, adapter.writableField)).not.toBe('Stale-Pass-1');
    });

    it('reports an unknown contact as a permanent CONTACT_NOT_FOUND', async () => {
      const error = await expectCode(
        connector.loadContact(adapter.unknownContactId),
        'CONTACT_NOT_FOUND',
      );
      expect(error.retryable).toBe(false);
    });

    it('reads the CRM\u2019s rate-limit answer into a retry delay', async () => {
      adapter.failNext(adapter.rateLimited.failure);
      const error = await expectCode(connector.loadContact(jane), 'CRM_RATE_LIMITED');
      expect(error.retryable).toBe(true);
      expect(error.retryAfterMs).toBe(adapter.rateLimited.retryAfterMs);
    });

    it('reports server errors and timeouts as retryable', async () => {
      adapter.failNext({ kind: 'status', status: 503, body: { error: 'maintenance' } });
      expect((await expectCode(connector.loadContact(jane), 'CRM_UNAVAILABLE')).retryable).toBe(
        true,
      );
      adapter.failNext({ kind: 'timeout' });
      expect((await expectCode(connector.loadContact(jane), 'CRM_TIMEOUT')).retryable).toBe(true);
      await expect(connector.loadContact(jane)).resolves.toMatchObject({ id: jane });
    });

    if (offlineConnector(name, adapter).listContacts) {
      describe('listing contacts for imports', () => {
        /** More than a page of every CRM's listing (at most 100 a page). */
        const COUNT = 110;
        const listed: string[] = [];
        const tagged: string[] = [];
        beforeAll(async () => {
          for (let i = 1; i <= COUNT; i += 1) {
            const importable = i % 3 === 0;
            const id = await adapter.seed({
              email: `listed${i}.contract@example.com`,
              firstName: 'Listed',
              lastName: `No${i}`,
              tags: importable ? ['Listed', 'Importable'] : ['Listed'],
            });
            listed.push(id);
            if (importable) tagged.push(id);
          }
        });

        it('pages through every contact, each once, until the cursor ends', async () => {
          const everyone = await listAll(connector);
          expect(everyone.ended).toBe(true);
          expect(everyone.pages).toBeGreaterThan(1);
          expect(new Set(everyone.ids).size).toBe(everyone.ids.length);
          expect(everyone.ids).toEqual(expect.arrayContaining([jane, ...listed]));
        });

        it('lists only the contacts with a tag (the id listTags gives)', async () => {
          const tag = (await connector.listTags()).find((t) => t.label === 'Importable');
          expect(tag).toBeDefined();
          const withTag = await listAll(connector, tag!.id);
          expect(withTag.ended).toBe(true);
          expect([...withTag.ids].sort()).toEqual([...tagged].sort());
        });
      });
    }
  });
}
