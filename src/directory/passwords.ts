/**
 * Password hashing and generation.
 *
 * Passwords people choose or the CRM supplies are hashed with argon2id with
 * OWASP's parameters (19 MiB, 2 passes, 1 lane), in the PHC string format
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). Hashes of the earlier
 * format, `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`, still verify, and
 * `needsRehash` tells the login to replace them. Hashes brought over from a
 * WordPress site verify too (wordpress-passwords.ts) and are replaced the same way. The slow
 * hashes run on libuv's thread pool (the argon2 and bcrypt bindings' async APIs and
 * node:crypto's scrypt), never on the event loop.
 *
 * Passwords this service generates are 96-bit random secrets: like an API
 * token, they need no slow hash to resist guessing. They are stored as
 * `$gen-hmac-sha256$v=1$<salt>$<mac>` (base64url), an HMAC-SHA256 under a key
 * derived from the sealing key, which lives apart from the database: a dump
 * of the database alone gives nothing to test guesses against. Hashing one
 * takes microseconds, so new users are not held up behind argon2.
 */
import {
  createHmac,
  randomBytes,
  randomInt,
  scrypt as scryptCallback,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify, type Algorithm } from '@node-rs/argon2';
import { isWordPressHash, verifyWordPressPassword } from './wordpress-passwords.js';
import type { Sealer } from '../lib/seal.js';

/** OWASP Password Storage Cheat Sheet, argon2id: m=19456 KiB, t=2, p=1. */
const ARGON2_PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
// The binding declares its algorithms as a const enum, which isolated modules cannot read: 2 is Argon2id.
const ARGON2ID = 2 as Algorithm;
const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}$`;

const SCRYPT_KEY_LENGTH = 32;
// No % < > & = + or quotes: CRMs sanitize field values (WordPress strips %xx and tags) and
// merge fields land in HTML e-mails, so a returned password must survive both unchanged.
const GENERATED_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$*-_';
const GENERATED_PASSWORD_LENGTH = 16;
/** log2(64) = 6 bits per character: 16 characters are 96 bits. */
export const GENERATED_PASSWORD_BITS =
  GENERATED_PASSWORD_LENGTH * Math.log2(GENERATED_ALPHABET.length);

/** Where the key for generated passwords comes from: the sealer's keyed digest. */
export type PasswordKeyring = Pick<Sealer, 'digest'>;

const GENERATED_PREFIX = '$gen-hmac-sha256$v=1$';
const GENERATED_SALT_BYTES = 16;
const generatedKeys = new WeakMap<PasswordKeyring, Buffer>();

function generatedKey(keyring: PasswordKeyring): Buffer {
  let key = generatedKeys.get(keyring);
  if (!key) {
    key = keyring.digest('crm-bridge generated password key');
    generatedKeys.set(keyring, key);
  }
  return key;
}

function generatedMac(keyring: PasswordKeyring, salt: Buffer, password: string): Buffer {
  return createHmac('sha256', generatedKey(keyring)).update(salt).update(password, 'utf8').digest();
}

/** Whether a stored hash is of a password this service generated (the fast keyed scheme). */
export function isGeneratedHash(stored: string): boolean {
  return stored.startsWith(GENERATED_PREFIX);
}

/**
 * The hash of a password from `generatePassword` (never of one a person chose or a CRM
 * supplied: those go to `hashPassword`).
 */
export function hashGeneratedPassword(password: string, keyring: PasswordKeyring): string {
  const salt = randomBytes(GENERATED_SALT_BYTES);
  const mac = generatedMac(keyring, salt, password);
  return `${GENERATED_PREFIX}${salt.toString('base64url')}$${mac.toString('base64url')}`;
}

function verifyGenerated(password: string, stored: string, keyring: PasswordKeyring): boolean {
  const [salt, mac] = stored.slice(GENERATED_PREFIX.length).split('$');
  if (!salt || !mac) return false;
  const expected = Buffer.from(mac, 'base64url');
  const actual = generatedMac(keyring, Buffer.from(salt, 'base64url'), password);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(
      password,
      salt,
      SCRYPT_KEY_LENGTH,
      { ...options, maxmem: 64 * 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, { ...ARGON2_PARAMS, algorithm: ARGON2ID });
}

async function verifyScrypt(password: string, stored: string): Promise<boolean> {
  const [, n, r, p, salt, hash] = stored.split('$');
  if (!n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Whether `password` matches `stored`, of any format; false for anything unreadable, and for
 * a generated password's hash when no keyring is given.
 */
export async function verifyPassword(
  password: string,
  stored: string,
  keyring?: PasswordKeyring,
): Promise<boolean> {
  if (isGeneratedHash(stored)) return keyring ? verifyGenerated(password, stored, keyring) : false;
  if (stored.startsWith('scrypt$')) return verifyScrypt(password, stored);
  if (isWordPressHash(stored)) return verifyWordPressPassword(password, stored);
  if (!stored.startsWith('$argon2id$')) return false;
  try {
    return await argon2Verify(stored, password);
  } catch {
    return false;
  }
}

/**
 * True for a hash of the old format or with other parameters: it should be replaced once the
 * password is known. A generated password's hash is current: the password is still the random one.
 */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith(CURRENT_PREFIX) && !isGeneratedHash(stored);
}

/** A cryptographically random password with letters, digits and symbols. */
export function generatePassword(length = GENERATED_PASSWORD_LENGTH): string {
  let password = '';
  for (let i = 0; i < length; i += 1)
    password += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
  return password;
}
