/**
 * Checks passwords against the hashes a WordPress site stores in
 * `wp_users.user_pass`, so users brought over from WordPress log in with the
 * password they had there (and get an argon2id hash at that first login):
 *
 * - `$wp$2y$…` (WordPress 6.8 and later): bcrypt over the base64 of the
 *   HMAC-SHA384 of the password, keyed with the text `wp-sha384`;
 * - `$P$…` (WordPress up to 6.7) and `$H$…` (the same scheme as phpBB names it):
 *   phpass portable hashes, iterated MD5 with a salt;
 * - `$2y$`, `$2a$`, `$2b$`: plain bcrypt, as bcrypt plugins store it;
 * - 32 hex digits: the MD5 of the password, from WordPress before 2.5.
 *
 * Every comparison of derived values is constant-time. bcrypt runs in the
 * native `bcrypt` binding on libuv's thread pool, never on the event loop.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';

/** The part of the `bcrypt` package used here (it ships no types). */
interface NativeBcrypt {
  compare(data: string, encrypted: string): Promise<boolean>;
}
let nativeBcrypt: NativeBcrypt | undefined;
/** Loaded on first use: a site without bcrypt hashes never loads the binding. */
function bcrypt(): NativeBcrypt {
  nativeBcrypt ??= createRequire(import.meta.url)('bcrypt') as NativeBcrypt;
  return nativeBcrypt;
}

/**
 * PHP writes `$2y$`, the same algorithm OpenBSD calls `$2b$` (both fix the
 * old `$2a$` bug the same way); the binding reads only `$2a$`/`$2b$`.
 */
function bcryptCompare(password: string, hash: string): Promise<boolean> {
  return bcrypt().compare(password, hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash);
}

/** WordPress refuses to check passwords longer than this; so do we (it bounds the work). */
const MAX_PASSWORD_BYTES = 4096;
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PHPASS = /^\$[PH]\$[./0-9A-Za-z]{31}$/;
const BCRYPT = /^\$2[aby]\$\d\d\$[./0-9A-Za-z]{53}$/;
const MD5_HEX = /^[0-9a-f]{32}$/i;

/** True for a hash in one of the WordPress formats above. */
export function isWordPressHash(stored: string): boolean {
  return (
    PHPASS.test(stored) ||
    BCRYPT.test(stored) ||
    (stored.startsWith('$wp') && BCRYPT.test(stored.slice(3))) ||
    MD5_HEX.test(stored)
  );
}

/** phpass's own base64: 6 bits at a time, least significant first. */
function encode64(input: Buffer): string {
  let output = '';
  let i = 0;
  while (i < input.length) {
    let value = input[i++] ?? 0;
    output += ITOA64[value & 0x3f];
    if (i < input.length) value |= (input[i] ?? 0) << 8;
    output += ITOA64[(value >> 6) & 0x3f];
    if (i++ >= input.length) break;
    if (i < input.length) value |= (input[i] ?? 0) << 16;
    output += ITOA64[(value >> 12) & 0x3f];
    if (i++ >= input.length) break;
    output += ITOA64[(value >> 18) & 0x3f];
  }
  return output;
}

/** The phpass portable hash of `password` with the setting (`$P$`, cost, salt) of `stored`. */
function phpassHash(password: string, setting: string): string | undefined {
  const log2 = ITOA64.indexOf(setting[3] ?? '');
  if (log2 < 7 || log2 > 30) return undefined;
  const salt = setting.slice(4, 12);
  if (salt.length !== 8) return undefined;
  const secret = Buffer.from(password, 'utf8');
  const md5 = (data: Buffer) => createHash('md5').update(data).digest();
  let hash = md5(Buffer.concat([Buffer.from(salt, 'binary'), secret]));
  for (let count = 1 << log2; count > 0; count -= 1) hash = md5(Buffer.concat([hash, secret]));
  return setting.slice(0, 12) + encode64(hash);
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** What WordPress 6.8+ hands to bcrypt: a fixed-length digest, so bcrypt's 72-byte limit never cuts a password. */
function wordPressPreHash(password: string): string {
  return createHmac('sha384', 'wp-sha384').update(password, 'utf8').digest('base64');
}

/** Whether `password` matches a WordPress hash; false for any other format. */
export async function verifyWordPressPassword(password: string, stored: string): Promise<boolean> {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return false;
  if (stored.startsWith('$wp')) {
    const inner = stored.slice(3);
    return BCRYPT.test(inner) && bcryptCompare(wordPressPreHash(password), inner);
  }
  if (BCRYPT.test(stored)) return bcryptCompare(password, stored);
  if (PHPASS.test(stored)) {
    const computed = phpassHash(password, stored);
    return computed !== undefined && sameText(computed, stored);
  }
  if (MD5_HEX.test(stored)) {
    const computed = createHash('md5').update(password, 'utf8').digest('hex');
    return sameText(computed, stored.toLowerCase());
  }
  return false;
}
