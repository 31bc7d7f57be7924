import { describe, expect, it } from 'vitest';
import { needsRehash, verifyPassword } from '../../src/directory/passwords.js';
import {
  isWordPressHash,
  verifyWordPressPassword,
} from '../../src/directory/wordpress-passwords.js';
import {
  legacyMd5,
  PHPASS_H_PREFIX,
  PHPASS_TEST12345,
  PHPASS_UTF8,
  PHPASS_WORDPRESS_COST,
  phpBcrypt,
  WP68_PUBLISHED,
  wp68Hash,
} from '../helpers/wordpress-hashes.js';

describe('WordPress password hashes', () => {
  it.each([
    ['phpass, phpass test vector', PHPASS_TEST12345],
    ['phpass, WordPress cost ($P$B)', PHPASS_WORDPRESS_COST],
    ['phpass, UTF-8 password', PHPASS_UTF8],
    ['phpass under $H$', PHPASS_H_PREFIX],
    ['WordPress 6.8+ ($wp$2y$)', WP68_PUBLISHED],
  ])('%s: the right password matches, a near miss does not', async (_name, vector) => {
    expect(isWordPressHash(vector.hash)).toBe(true);
    expect(await verifyPassword(vector.password, vector.hash)).toBe(true);
    expect(await verifyPassword(`${vector.password}x`, vector.hash)).toBe(false);
    expect(await verifyPassword(vector.password.slice(1), vector.hash)).toBe(false);
    // Every WordPress hash is replaced by argon2id at the first login.
    expect(needsRehash(vector.hash)).toBe(true);
  });

  it('WordPress 6.8+ hashes made as wp_hash_password makes them, long passwords included', async () => {
    // bcrypt alone reads 72 bytes; the HMAC pre-hash makes every byte count.
    const long = `${'a'.repeat(80)}-tail`;
    const hash = wp68Hash(long);
    expect(hash).toMatch(/^\$wp\$2y\$04\$/);
    expect(await verifyPassword(long, hash)).toBe(true);
    expect(await verifyPassword(`${'a'.repeat(80)}-tall`, hash)).toBe(false);
    // The $wp hash is not a bcrypt of the password itself.
    expect(await verifyPassword(long, hash.slice(3))).toBe(false);
  });

  it('plain bcrypt ($2y$, $2a$, $2b$) as bcrypt plugins store it', async () => {
    const y = phpBcrypt('correct horse');
    expect(y.startsWith('$2y$')).toBe(true);
    for (const hash of [y, y.replace('$2y$', '$2a$'), y.replace('$2y$', '$2b$')]) {
      expect(await verifyPassword('correct horse', hash)).toBe(true);
      expect(await verifyPassword('correct horsE', hash)).toBe(false);
    }
  });

  it('legacy MD5 hex (WordPress before 2.5), either case', async () => {
    expect(legacyMd5('password')).toBe('5f4dcc3b5aa765d61d8327deb882cf99');
    expect(await verifyPassword('password', '5f4dcc3b5aa765d61d8327deb882cf99')).toBe(true);
    expect(await verifyPassword('password', '5F4DCC3B5AA765D61D8327DEB882CF99')).toBe(true);
    expect(await verifyPassword('Password', '5f4dcc3b5aa765d61d8327deb882cf99')).toBe(false);
  });

  it('refuses malformed hashes, an empty stored value and over-long passwords', async () => {
    for (const stored of [
      '',
      '$P$',
      '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L',
      '$P$!IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0',
      '$wp$2y$10$short',
      '5f4dcc3b5aa765d61d8327deb882cf9',
    ]) {
      expect(await verifyPassword('test12345', stored)).toBe(false);
    }
    expect(await verifyWordPressPassword('x'.repeat(4097), legacyMd5('x'.repeat(4097)))).toBe(
      false,
    );
  });
});
