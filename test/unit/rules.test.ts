import { describe, expect, it } from 'vitest';
import { resolveRole } from '../../src/directory/roles.js';
import { diffTags } from '../../src/directory/user-tags.js';
import { sanitizeLogin, usernameBase, usernameCandidate } from '../../src/directory/username.js';
import { strongestAction } from '../../src/inbox/actions.js';
import type { StoredParams } from '../../src/inbox/stored-params.js';
import { planRun } from '../../src/runs/plan.js';
import { mapContact, shownFields } from '../../src/runs/rules.js';
import { calculateDelay } from '../../src/lib/backoff.js';
import { redactUrl } from '../../src/lib/secrets.js';
import { isUnfilledMergeField, mergeParams, parseBoolean } from '../../src/webhook/params.js';
import { parseTagList } from '../../src/connectors/tag-list.js';
import { mergeFieldMap } from '../../src/connections/registry.js';

const ROLES = [
  { slug: 'administrator', name: 'Administrator', isAdmin: true },
  { slug: 'subscriber', name: 'Subscriber', isAdmin: false },
  { slug: 'gold_member', name: 'Gold Member', isAdmin: false },
  { slug: 'shop_manager', name: 'Shop Manager', isAdmin: true },
];

describe('send_notification and other flags', () => {
  it('treats the string "false" as false and "true" as true', () => {
    expect(parseBoolean('false')).toBe(false);
    expect(parseBoolean('true')).toBe(true);
    expect(parseBoolean('TRUE')).toBe(true);
    expect(parseBoolean('1')).toBe(true);
    expect(parseBoolean('0')).toBe(false);
    expect(parseBoolean('')).toBe(false);
    expect(parseBoolean(undefined)).toBe(false);
  });
});

describe('roles', () => {
  it('accepts a slug, or converts a title to its slug', () => {
    expect(resolveRole('gold_member', ROLES, 'subscriber')).toEqual({ slug: 'gold_member' });
    expect(resolveRole('Gold Member', ROLES, 'subscriber')).toEqual({ slug: 'gold_member' });
  });
  it('falls back to the default role with a notice for a role the site does not have', () => {
    const decision = resolveRole('customer', ROLES, 'subscriber');
    expect(decision.slug).toBe('subscriber');
    expect(decision.notice).toMatch(/customer.*does not exist/);
  });
  it('never hands out an admin-capable role', () => {
    expect(resolveRole('administrator', ROLES, 'subscriber').slug).toBe('subscriber');
    expect(resolveRole('Shop Manager', ROLES, 'subscriber').slug).toBe('subscriber');
    expect(resolveRole('administrator', ROLES, 'subscriber').notice).toMatch(/never assigned/);
  });
  it('uses the default when nothing is asked for', () => {
    expect(resolveRole(undefined, ROLES, 'subscriber')).toEqual({ slug: 'subscriber' });
    expect(resolveRole('  ', ROLES, 'subscriber')).toEqual({ slug: 'subscriber' });
  });
});

describe('usernames', () => {
  const person = { email: 'Jane.Doe@Example.com', first_name: 'Jäne', last_name: 'Doe' };
  it('follows the username format setting', () => {
    expect(usernameBase('email', person)).toBe('jane.doe@example.com');
    expect(usernameBase('first_last', person)).toBe('jane.doe');
    expect(usernameBase('first_number', person)).toBe('jane');
  });
  it('falls back to the e-mail when names are missing', () => {
    expect(usernameBase('first_last', { email: 'x@y.zz' })).toBe('x@y.zz');
  });
  it('adds a random suffix from the second try on (and always for first_number)', () => {
    const random = () => 0.1234;
    expect(usernameCandidate('jane', 0, random, 'email')).toBe('jane');
    expect(usernameCandidate('jane', 1, random, 'email')).toBe('jane-1234');
    expect(usernameCandidate('jane', 0, random, 'first_number')).toBe('jane1234');
    expect(usernameCandidate('jane', 5, random, 'email')).toBe('jane-123400');
  });
  it('strips characters a login may not hold', () => {
    expect(sanitizeLogin(' <b>jöhn</b>!! ')).toBe('bjohnb');
  });
});

describe('field mapping', () => {
  const contact = {
    id: '1',
    email: 'c@d.ee',
    fields: { f1: 'jdoe', f2: 'pw', plan: 'gold', first: 'J' },
  };
  it('maps CRM fields to user fields and meta keys', () => {
    const mapped = mapContact(
      contact,
      { f1: 'user_login', f2: 'user_pass', plan: 'membership', first: 'first_name' },
      false,
    );
    expect(mapped).toMatchObject({
      user_login: 'jdoe',
      user_pass: 'pw',
      first_name: 'J',
      email: 'c@d.ee',
    });
    expect(mapped.meta).toEqual({ membership: 'gold' });
  });
  it('ignores unmapped fields unless told to keep them as meta', () => {
    expect(mapContact(contact, {}, false).meta).toEqual({});
    expect(mapContact(contact, {}, true).meta).toEqual({
      f1: 'jdoe',
      f2: 'pw',
      plan: 'gold',
      first: 'J',
    });
  });
  it('lets a connection add to and remove from the default mapping', () => {
    expect(
      mergeFieldMap({ email: 'email', first: 'first_name' }, { first: '', f9: 'user_pass' }),
    ).toEqual({ email: 'email', f9: 'user_pass' });
  });
  it('shows mapped fields only, with password fields and fields mapped to user_pass masked', () => {
    const fields = { f2: 'pw', password: 'x', plan: 'gold', notes: 'hi', api_token: 'sk_live_1' };
    const map = { f2: 'user_pass', password: 'user_pass', plan: 'membership' };
    expect(shownFields(fields, map, { unmappedAsMeta: false })).toEqual({
      f2: '***',
      password: '***',
      plan: 'gold',
    });
    expect(shownFields(fields, map, { unmappedAsMeta: false, extraSecrets: ['plan'] })).toEqual({
      f2: '***',
      password: '***',
      plan: '***',
    });
    // Fields that become meta are shown; secret-looking ones never become meta, so never show.
    expect(shownFields(fields, map, { unmappedAsMeta: true })).toEqual({
      f2: '***',
      password: '***',
      plan: 'gold',
      notes: 'hi',
    });
  });
  it('never turns a secret-looking unmapped field into meta', () => {
    const contact = {
      id: '1',
      fields: { password: 'x', api_token: 'sk_live_1', 'WP Password': 'y', plan: 'gold' },
    };
    expect(mapContact(contact, {}, true).meta).toEqual({ plan: 'gold' });
  });
});

describe('tags', () => {
  it('reports added and removed tags', () => {
    expect(diffTags(['1', '2'], ['2', '3'])).toEqual({ added: ['3'], removed: ['1'] });
  });
  it('reads comma-separated and JSON tag lists', () => {
    expect(parseTagList('Customer, VIP ,')).toEqual(['Customer', 'VIP']);
    expect(parseTagList('["a","b"]')).toEqual(['a', 'b']);
    expect(parseTagList(['x', 3])).toEqual(['x', '3']);
    expect(parseTagList(undefined)).toBeUndefined();
  });
});

describe('coalescing', () => {
  const event = (over: Partial<StoredParams>): StoredParams => ({
    action: 'update_tags',
    contactId: '9',
    sendNotification: false,
    async: false,
    raw: {},
    ...over,
  });
  it('does what the strongest webhook asks: add > update > update_tags', () => {
    expect(strongestAction(['update_tags', 'update'])).toBe('update');
    expect(planRun([event({}), event({ action: 'add' }), event({ action: 'update' })]).action).toBe(
      'add',
    );
  });
  it('keeps the newest role and e-mail and any add notification', () => {
    const plan = planRun([
      event({ action: 'add', role: 'a', sendNotification: true, email: 'old@x.yz' }),
      event({ action: 'update', role: 'b', email: 'new@x.yz' }),
    ]);
    expect(plan).toMatchObject({ role: 'b', email: 'new@x.yz', sendNotification: true });
  });
  it('takes the role from add and update only (regression: an update_tags with role=subscriber demoted an editor)', () => {
    const plan = planRun([
      event({ action: 'add', role: 'editor' }),
      event({ action: 'update_tags', role: 'subscriber' }),
    ]);
    expect(plan).toMatchObject({ action: 'add', role: 'editor' });
  });
  it('takes tags only from the newest webhook that speaks about tags (regression: stale carried tags skipped a fresh load)', () => {
    const carried = { id: '9', fields: {}, tags: ['A', 'B'] };
    // A newer update_tags without tags means "load them": the older carried ones are stale.
    const stale = planRun([event({ contact: carried }), event({})]);
    expect(stale.snapshotHasTags).toBe(false);
    expect(stale.snapshot?.tags).toBeUndefined();
    const alsoStale = planRun([
      event({ contact: carried }),
      event({ contact: { id: '9', fields: { first_name: 'Jo' } } }),
    ]);
    expect(alsoStale.snapshotHasTags).toBe(false);
    // An update that carries no tags says nothing about them: the older carried ones still stand.
    const kept = planRun([
      event({ action: 'update', contact: carried }),
      event({ action: 'update', contact: { id: '9', fields: { first_name: 'Jo' } } }),
    ]);
    expect(kept).toMatchObject({
      snapshotHasTags: true,
      snapshot: { tags: ['A', 'B'], fields: { first_name: 'Jo' } },
    });
    // With no CRM to load them from (the payload connector), an update_tags without tags changes nothing.
    expect(planRun([event({ contact: carried }), event({})], { canLoadTags: false })).toMatchObject(
      { snapshotHasTags: true, snapshot: { tags: ['A', 'B'] } },
    );
    const newest = planRun([event({}), event({ contact: { id: '9', fields: {}, tags: ['C'] } })]);
    expect(newest).toMatchObject({ snapshotHasTags: true, snapshot: { tags: ['C'] } });
  });
  it('merges carried snapshots with the newest values winning', () => {
    const plan = planRun([
      event({ contact: { id: '9', email: 'a@b.cc', fields: { x: '1', y: '1' }, tags: ['t1'] } }),
      event({ action: 'update', contact: { id: '9', fields: { y: '2' } } }),
    ]);
    expect(plan.snapshot).toMatchObject({
      email: 'a@b.cc',
      fields: { x: '1', y: '2' },
      tags: ['t1'],
    });
  });
});

describe('retry delays', () => {
  const policy = { maxAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 60_000 };
  it('grows exponentially within ±25% jitter and stops at the cap', () => {
    expect(calculateDelay(1, policy, () => 0.5)).toBe(1_000);
    expect(calculateDelay(3, policy, () => 0.5)).toBe(4_000);
    expect(calculateDelay(3, policy, () => 0)).toBe(3_000);
    expect(calculateDelay(3, policy, () => 1)).toBe(5_000);
    expect(calculateDelay(20, policy, () => 0.5)).toBe(60_000);
  });
  it('never retries before a Retry-After the CRM asked for', () => {
    for (const r of [0, 0.5, 0.999]) {
      const delay = calculateDelay(1, policy, () => r, 30_000);
      expect(delay).toBeGreaterThanOrEqual(30_000);
      expect(delay).toBeLessThanOrEqual(31_000);
    }
  });
});

describe('webhook parameters', () => {
  it('merges query and body, the body winning, and flattens arrays', () => {
    expect(mergeParams({ a: '1', b: '1', 'tags[]': ['x', 'y'] }, { b: '2', n: 5 })).toEqual({
      a: '1',
      b: '2',
      tags: 'x,y',
      n: '5',
    });
  });
  it('recognises merge fields the CRM did not fill', () => {
    expect(isUnfilledMergeField('[Contact ID]')).toBe(true);
    expect(isUnfilledMergeField('{{contact_id}}')).toBe(true);
    expect(isUnfilledMergeField('{{ contact_id }}')).toBe(true);
    expect(isUnfilledMergeField('4711')).toBe(false);
  });
  it('redacts the access key and passwords from logged URLs', () => {
    expect(redactUrl('/?wpf_action=add&access_key=SECRET&user_pass=pw&contact_id=1')).toBe(
      '/?wpf_action=add&access_key=***&user_pass=***&contact_id=1',
    );
  });
});

describe('generated passwords', () => {
  it('are long, varied, and free of characters CRMs or e-mails would alter', async () => {
    const { generatePassword } = await import('../../src/directory/passwords.js');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i += 1) {
      const password = generatePassword();
      expect(password.length).toBeGreaterThanOrEqual(12);
      expect(password).not.toMatch(/[%<>&=+"'\s]/);
      seen.add(password);
    }
    expect(seen.size).toBe(200);
  });
});
