/**
 * Sealing: secrets that must be kept but never shown (the access key, secret
 * webhook parameters kept for replay, CRM credentials) are stored encrypted
 * with AES-256-GCM under a key that lives apart from the database, so a dump
 * of the database alone reveals none of them.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

const PREFIX = 'sealed:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes of key material a sealer needs. */
export const SEAL_KEY_BYTES = 32;

export interface Sealer {
  /** Encrypts text; the result names its format and is safe to store. */
  seal(text: string): string;
  /** Decrypts what `seal` made; throws when it was made with another key or altered. */
  open(sealed: string): string;
  /** A keyed, non-reversible digest for checking a secret without keeping it readable. */
  digest(text: string): Buffer;
  /**
   * A short keyed name for a secret, safe to log: without the sealing key it
   * cannot be checked against guesses, so even a short secret is not found from it.
   */
  fingerprint(text: string): string;
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** Compares two digests in constant time. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== SEAL_KEY_BYTES) throw new Error(`a sealing key has ${SEAL_KEY_BYTES} bytes`);
  // Separate keys for separate jobs, derived from the one the owner keeps.
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
  const encryptionKey = derive('crm-bridge seal');
  const digestKey = derive('crm-bridge digest');
  const fingerprintKey = derive('crm-bridge fingerprint');
  return {
    seal(text) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
      const encrypted = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), encrypted]).toString('base64url');
    },
    open(sealed) {
      if (!isSealed(sealed)) throw new Error('not a sealed value');
      const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', encryptionKey, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    },
    digest(text) {
      return createHmac('sha256', digestKey).update(text).digest();
    },
    fingerprint(text) {
      return createHmac('sha256', fingerprintKey).update(text).digest('hex').slice(0, 8);
    },
  };
}
