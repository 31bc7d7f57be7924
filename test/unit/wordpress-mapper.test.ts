import { describe, expect, it } from 'vitest';
import {
  connectorTypeForWpfCrm,
  mapWordPressUser,
  readCapabilities,
  readTagIds,
  readTagLabels,
  readWordPressRoles,
  readWpFusionOptions,
  registeredAt,
} from '../../src/import/wordpress/wordpress.mapper.js';
import { phpSerialize } from '../helpers/wordpress-site.js';

describe('reading what WordPress and WP Fusion store', () => {
  it('reads wpf_options: key, CRM, username format, Return Password (both forms), welcome e-mail, active field map', () => {
    const options = readWpFusionOptions(
      phpSerialize({
        access_key: 'k3y-12ab',
        crm: 'autonami',
        username_format: 'fnamenum',
        return_password: '1',
        return_password_field: 'pw_field',
        send_welcome_email: false,
        contact_fields: {
          first_name: { crm_field: 'f_first', active: '1', type: 'text', pull: '1' },
          user_email: { crm_field: 'f_email', active: true },
          billing_city: { crm_field: 'f_city', active: 1 },
          phone: { crm_field: 'f_phone', active: false },
          user_registered: { crm_field: 'f_reg', active: true },
          empty: { crm_field: '', active: true },
        },
      }),
    );
    expect(options).toEqual({
      accessKey: 'k3y-12ab',
      crm: 'autonami',
      usernameFormat: 'fnamenum',
      unknownUsernameFormat: undefined,
      returnPassword: true,
      returnPasswordField: 'pw_field',
      sendWelcomeEmail: false,
      fieldMap: { f_first: 'first_name', f_email: 'email', f_city: 'billing_city' },
      metaKeys: ['billing_city'],
    });
    expect(connectorTypeForWpfCrm('autonami')).toBe('funnelkit');
    expect(connectorTypeForWpfCrm('ontraport')).toBe('ontraport');
    expect(
      readWpFusionOptions(phpSerialize({ return_password_field: { crm_field: 'Password' } }))
        .returnPasswordField,
    ).toBe('Password');
  });

  it('a site without WP Fusion, or an unreadable value, gives nothing rather than failing', () => {
    for (const raw of [undefined, '', 'not serialized', 'a:1:{s:3:"crm";']) {
      const options = readWpFusionOptions(raw);
      expect(options.crm).toBeUndefined();
      expect(options.fieldMap).toEqual({});
    }
  });

  it('tag labels keep spaces, quotes, commas and emoji; {label, category} entries are read too', () => {
    const labels = readTagLabels(
      phpSerialize({
        12: 'Paid "Gold", yearly 🎉',
        13: { label: 'Lead', category: 'Funnel' },
        abc: 'Named id',
      }),
    );
    expect([...labels]).toEqual([
      ['12', 'Paid "Gold", yearly 🎉'],
      ['13', 'Lead'],
      ['abc', 'Named id'],
    ]);
  });

  it('user tags are tag-id strings keyed from 1; a:0:{} is none', () => {
    expect(readTagIds(phpSerialize({ 1: '12', 2: '13', 3: '12' }))).toEqual(['12', '13']);
    expect(readTagIds('a:0:{}')).toEqual([]);
    expect(readTagIds(undefined)).toEqual([]);
  });

  it('roles: names and admin capability; capabilities: granted roles only', () => {
    expect(
      readWordPressRoles(
        phpSerialize({
          administrator: { name: 'Administrator', capabilities: { manage_options: true } },
          shop_manager: { name: 'Shop manager', capabilities: { edit_users: '1', read: true } },
          member: { name: 'Member', capabilities: { read: true, manage_options: false } },
        }),
      ),
    ).toEqual([
      { slug: 'administrator', name: 'Administrator', isAdmin: true },
      { slug: 'shop_manager', name: 'Shop manager', isAdmin: true },
      { slug: 'member', name: 'Member', isAdmin: false },
    ]);
    expect(readCapabilities(phpSerialize({ member: true, editor: false, vip: '1' }))).toEqual([
      'member',
      'vip',
    ]);
  });

  it('registration dates are UTC; zero dates are unknown', () => {
    expect(registeredAt('2021-03-04 05:06:07')).toBe('2021-03-04T05:06:07.000Z');
    expect(registeredAt('0000-00-00 00:00:00')).toBeUndefined();
  });

  it('maps a user: the real login (not the user_login meta), only known hash formats, contact id and tags', () => {
    const context = {
      capabilitiesKey: 'wp_capabilities',
      contactIdKey: 'ontraport_contact_id',
      tagsKey: 'ontraport_tags',
      metaKeys: ['billing_city', 'phone'],
    };
    const record = {
      ID: '42',
      user_login: 'janedoe',
      user_pass: '$P$Buvd5FQxkeXJnDarN7..wRMwRKJeZ40',
      user_email: ' jane@example.com ',
      user_registered: '2020-01-02 03:04:05',
      display_name: 'Jane D',
      meta: new Map([
        ['user_login', 'Jane Doe!'],
        ['first_name', 'Jane'],
        ['wp_capabilities', phpSerialize({ customer: true })],
        ['ontraport_contact_id', ' 981 '],
        ['ontraport_tags', phpSerialize({ 1: '5' })],
        ['billing_city', 'Lyon'],
        ['phone', ''],
      ]),
    };
    expect(mapWordPressUser(record, context)).toEqual({
      user: {
        wpId: '42',
        login: 'janedoe',
        email: 'jane@example.com',
        firstName: 'Jane',
        lastName: '',
        displayName: 'Jane D',
        registeredAt: '2020-01-02T03:04:05.000Z',
        passwordHash: '$P$Buvd5FQxkeXJnDarN7..wRMwRKJeZ40',
        roles: ['customer'],
        contactId: '981',
        tagIds: ['5'],
        meta: { billing_city: 'Lyon' },
      },
    });
    const unknownHash = mapWordPressUser({ ...record, user_pass: '$argon2i$v=19$x' }, context);
    expect('user' in unknownHash && unknownHash.user.passwordHash).toBeUndefined();
    expect(mapWordPressUser({ ...record, user_email: 'nope' }, context)).toEqual({
      skip: 'no valid e-mail address',
    });
  });
});
