/**
 * Fake of the in-repo `testcrm` API (see src/connectors/testcrm): contacts
 * with fields and tag ids, a tag list with labels, bearer-token auth. It
 * tracks concurrent loads per contact so tests can prove runs never overlap.
 */
import {
  startFakeHttpServer,
  parseBody,
  type FakeHttpServer,
  type FakeReply,
} from './fake-http.js';

interface TestCrmContact {
  id: string;
  email?: string;
  fields: Record<string, string>;
  tags: string[];
}

export interface FakeTestCrm extends FakeHttpServer {
  readonly apiKey: string;
  readonly contacts: Map<string, TestCrmContact>;
  readonly tags: Map<string, string>;
  /** Contact loads per contact id. */
  loads(contactId: string): number;
  /** Most loads of one contact that were in flight at once. */
  maxConcurrentLoads(contactId: string): number;
  addContact(contact: Partial<TestCrmContact> & { id: string }): TestCrmContact;
  /** A hook run while a contact load is in flight (before it is answered); tests clear it with `undefined`. */
  onLoad?: ((contactId: string) => void | Promise<void>) | undefined;
}

export async function startFakeTestCrm(options: { apiKey?: string } = {}): Promise<FakeTestCrm> {
  const apiKey = options.apiKey ?? 'test-crm-key';
  const contacts = new Map<string, TestCrmContact>();
  const tags = new Map<string, string>([
    ['1', 'Customer'],
    ['2', 'VIP'],
    ['3', 'Newsletter'],
  ]);
  const loadCount = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();

  const json = (status: number, body: unknown): FakeReply => ({ status, body });

  const server = await startFakeHttpServer(async (req) => {
    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return json(401, { error: 'invalid api key' });
    const contactMatch = /^\/contacts\/([^/]+)$/.exec(req.path);
    if (req.method === 'GET' && contactMatch) {
      const id = decodeURIComponent(contactMatch[1] ?? '');
      loadCount.set(id, (loadCount.get(id) ?? 0) + 1);
      const now = (inFlight.get(id) ?? 0) + 1;
      inFlight.set(id, now);
      maxInFlight.set(id, Math.max(maxInFlight.get(id) ?? 0, now));
      try {
        // The state is read when the request arrives: a change made while the answer is
        // on its way is not in it, so only a later run can see it.
        const contact = contacts.get(id);
        const snapshot = contact ? structuredClone(contact) : undefined;
        await fake.onLoad?.(id);
        return snapshot ? json(200, snapshot) : json(404, { error: `contact ${id} not found` });
      } finally {
        inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
      }
    }
    if (req.method === 'PATCH' && contactMatch) {
      const contact = contacts.get(decodeURIComponent(contactMatch[1] ?? ''));
      if (!contact) return json(404, { error: 'contact not found' });
      const body = parseBody(req) as { fields?: Record<string, string> };
      if (!body.fields || Object.keys(body.fields).length === 0)
        return json(422, { error: 'fields required' });
      Object.assign(contact.fields, body.fields);
      return json(200, contact);
    }
    if (req.method === 'GET' && req.path === '/contacts') {
      const email = (req.query.get('email') ?? '').toLowerCase();
      return json(
        200,
        [...contacts.values()]
          .filter((c) => c.email?.toLowerCase() === email)
          .map((c) => ({ id: c.id, email: c.email })),
      );
    }
    if (req.method === 'GET' && req.path === '/tags') {
      return json(
        200,
        [...tags].map(([id, label]) => ({ id, label })),
      );
    }
    if (req.method === 'GET' && req.path === '/fields') {
      return json(200, [
        { id: 'email', label: 'E-mail', type: 'email' },
        { id: 'first_name', label: 'First name', type: 'text' },
        { id: 'last_name', label: 'Last name', type: 'text' },
        { id: 'username', label: 'Username', type: 'text' },
        { id: 'password', label: 'Password', type: 'text' },
        { id: 'plan', label: 'Plan', type: 'text' },
      ]);
    }
    return json(404, { error: 'no route' });
  });

  const fake: FakeTestCrm = Object.assign(server, {
    apiKey,
    contacts,
    tags,
    loads: (id: string) => loadCount.get(id) ?? 0,
    maxConcurrentLoads: (id: string) => maxInFlight.get(id) ?? 0,
    addContact(contact: Partial<TestCrmContact> & { id: string }) {
      const full: TestCrmContact = { fields: {}, tags: [], ...contact };
      if (full.email !== undefined) full.fields.email ??= full.email;
      contacts.set(full.id, full);
      return full;
    },
    onLoad: undefined,
  });
  return fake;
}
