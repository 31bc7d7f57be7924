/**
 * Password hashes as WordPress sites store them, for tests. The phpass and
 * WordPress 6.8 vectors are published ones (phpass's own test vector, and
 * hashes that circulate with their passwords); the others are made here the
 * way WordPress makes them, with bcryptjs (a pure-JavaScript bcrypt, not the
 * native binding the service verifies with) standing in for PHP's
 * `password_hash` (which writes the `$2y$` prefix).
 */
import { createHash, createHmac } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** phpass's test vector (WordPress ≤ 6.7 format, cost 2^11). */
export const PHPASS_TEST12345 = {
  password: 'test12345',
  hash: '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0',
};
/** A hash with WordPress's own cost (`$P$B`: 2^13 rounds). */
export const PHPASS_WORDPRESS_COST = {
  password: '!?!#?#?#$&@&@!&@',
  hash: '$P$Buvd5FQxkeXJnDarN7..wRMwRKJeZ40',
};
/** Non-ASCII passwords are hashed as their UTF-8 bytes. */
export const PHPASS_UTF8 = { password: 'ąćęłóńśźż', hash: '$P$ByXWbzDvVAJ0jxvNp5sv4xYPIRXJJ1.' };
/** The same scheme under phpBB's `$H$` prefix. */
export const PHPASS_H_PREFIX = { password: 'test1', hash: '$H$9aaaaaSXBjgypwqm.JsMssPLiS8YQ00' };
/** A WordPress 6.8+ hash. */
export const WP68_PUBLISHED = {
  password: '@ojisuperadminsolo',
  hash: '$wp$2y$10$5CG2SwZGLrV7fWDFGAd5f.qTdZqcFKm4bgonkif2iuCXg4zTHTBUW',
};

/** PHP's password_hash(…, PASSWORD_BCRYPT) at a low cost, as `$2y$`. */
export function phpBcrypt(password: string, cost = 4): string {
  return bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$');
}

/** wp_hash_password() of WordPress 6.8+: `$wp` + bcrypt(base64(HMAC-SHA384('wp-sha384', password))). */
export function wp68Hash(password: string, cost = 4): string {
  const preHash = createHmac('sha384', 'wp-sha384').update(password).digest('base64');
  return `$wp${phpBcrypt(preHash, cost)}`;
}

/** The MD5 hex digest WordPress before 2.5 stored. */
export function legacyMd5(password: string): string {
  return createHash('md5').update(password).digest('hex');
}
