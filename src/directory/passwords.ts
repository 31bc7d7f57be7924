/**
 * Password hashing and generation. New hashes are argon2id with OWASP's
 * parameters (19 MiB, 2 passes, 1 lane), in the PHC string format
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). Hashes of the earlier
 * format, `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`, still verify, and
 * `needsRehash` tells the login to replace them.
 *
 * Both run on libuv's thread pool (the argon2 binding's async API and
 * node:crypto's scrypt), never on the event loop.
 */
import {
  randomInt,
  scrypt as scryptCallback,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify, type Algorithm } from '@node-rs/argon2';

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

/** Whether `password` matches `stored`, of either format; false for anything unreadable. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('scrypt$')) return verifyScrypt(password, stored);
  if (!stored.startsWith('$argon2id$')) return false;
  try {
    return await argon2Verify(stored, password);
  } catch {
    return false;
  }
}

/** True for a hash of the old format or with other parameters: it should be replaced once the password is known. */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith(CURRENT_PREFIX);
}

/** A cryptographically random password with letters, digits and symbols. */
export function generatePassword(length = GENERATED_PASSWORD_LENGTH): string {
  let password = '';
  for (let i = 0; i < length; i += 1)
    password += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
  return password;
}
