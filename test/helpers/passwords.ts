/** Password hashes as earlier versions stored them, for tests of the upgrade path. */
import { randomBytes, scryptSync } from 'node:crypto';

/** `scrypt$16384$8$1$<salt>$<hash>`: the format of every hash stored before argon2id. */
export function legacyScryptHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', 16384, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

/** The prefix of a hash made with the current parameters. */
export const ARGON2ID_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';
