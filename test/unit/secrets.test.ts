import { describe, expect, it } from 'vitest';
import {
  isSecretName,
  MASK,
  redactBody,
  redactDeep,
  redactQuery,
  redactRecord,
  redactUrl,
  redactUrlPassword,
} from '../../src/lib/secrets.js';

describe('the secret rule', () => {
  it('knows passwords, keys and tokens under every spelling a CRM or sender uses', () => {
    for (const name of [
      'access_key',
      'access_key[]',
      'access_key[0]',
      'accessKey',
      'user_pass',
      'password',
      'WP Password',
      'f_password_1',
      'pwd',
      'api_key',
      'apiKey',
      'Api-Key',
      'api_token',
      'client_secret',
      'app_password',
      'fields[user_pass]',
      'key',
      'Authorization',
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
  });
  it('leaves ordinary fields alone', () => {
    for (const name of [
      'email',
      'first_name',
      'contact_id',
      'wpf_action',
      'tags',
      'keywords',
      'monkey',
      'author',
      'plan',
      'role',
    ]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

describe('redaction', () => {
  it('masks bracket forms of the key in URLs and form bodies as it masks the plain form', () => {
    expect(redactUrl('/?wpf_action=add&access_key[]=K1&access_key[]=K2&contact_id=1')).toBe(
      `/?wpf_action=add&access_key%5B%5D=${MASK}&access_key%5B%5D=${MASK}&contact_id=1`,
    );
    expect(redactQuery('access_key%5B0%5D=K&a=1')).not.toContain('K&');
  });
  it('masks secrets at any depth of a JSON body, and hides a broken JSON body whole', () => {
    expect(
      JSON.parse(
        redactBody(
          '{"contact":{"api_token":"sk_live_1","name":"Jo"},"list":[{"password":"x"}]}',
          'application/json',
        ) ?? '',
      ),
    ).toEqual({
      contact: { api_token: MASK, name: 'Jo' },
      list: [{ password: MASK }],
    });
    expect(redactBody('{"user_pass":"hunter2",', 'application/json')).toBe(
      `{"user_pass":"${MASK}",`,
    );
    expect(
      redactBody('{"access_key":"K", "pin_token": 1234, "wpf_action":', 'application/json'),
    ).toBe(`{"access_key":"${MASK}", "pin_token": "${MASK}", "wpf_action":`);
    expect(redactBody('{"user_pass":"hunter2', 'application/json')).toBe(`{"user_pass":"${MASK}"`);
    expect(redactBody('{"contact_id": 4711, "wpf_action": "add",', 'application/json')).toBe(
      '{"contact_id": 4711, "wpf_action": "add",',
    );
    expect(redactBody('user_pass=hunter2&a=1', 'application/x-www-form-urlencoded')).toBe(
      `user_pass=${MASK}&a=1`,
    );
  });
  it('keeps empty values empty so a person sees the field was blank', () => {
    expect(redactRecord({ user_pass: '', password: 'x', email: 'a@b.c' })).toEqual({
      user_pass: '',
      password: MASK,
      email: 'a@b.c',
    });
  });
  it('stops at a bounded depth instead of overflowing the stack', () => {
    let deep: unknown = { password: 'x' };
    for (let i = 0; i < 10_000; i += 1) deep = { a: deep };
    expect(JSON.stringify(redactDeep(deep))).toContain(MASK);
  });
});

describe('redactUrlPassword', () => {
  it('masks the password of a connection URL, whatever characters it holds', () => {
    expect(redactUrlPassword('mysql://reader:S3cret@db:3306/wp')).toBe(
      'mysql://reader:***@db:3306/wp',
    );
    expect(redactUrlPassword('mysql://reader:p@ss/w:rd@db/wp')).toBe('mysql://reader:***@db/wp');
    expect(redactUrlPassword('mysql://root@127.0.0.1:3306/wp')).toBe(
      'mysql://root@127.0.0.1:3306/wp',
    );
    expect(redactUrlPassword('mysql://db-host:3306/wp')).toBe('mysql://db-host:3306/wp');
  });
});
