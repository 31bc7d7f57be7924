/** Random secrets handed out once (links, sessions, API tokens) and the hash kept of them. */
import { createHash, randomBytes } from 'node:crypto';

/** SHA-256 in hex: the secrets are random and long, so a fast hash is enough. */
export function hashSecret(raw: string): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** 32 random bytes, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}
