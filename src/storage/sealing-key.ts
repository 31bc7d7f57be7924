/**
 * The key that seals secrets at rest. It lives apart from the database: in
 * `CRM_BRIDGE_ENCRYPTION_KEY` (give every node of a shared PostgreSQL the same
 * one), or else in an owner-only file in the data directory, made on first use.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';
import { SEAL_KEY_BYTES } from '../lib/seal.js';

const SEALING_KEY_FILE = 'encryption.key';

/** Reads a key given as base64, base64url or hex text; undefined when it is not 32 bytes. */
function decodeSealingKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  const candidates = [
    /^[0-9a-f]+$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : undefined,
    Buffer.from(trimmed, 'base64url'),
    Buffer.from(trimmed, 'base64'),
  ];
  return candidates.find((key) => key?.length === SEAL_KEY_BYTES);
}

/** The configured key, or the data directory's key file (created owner-only when missing). */
export function loadSealingKey(dataDir: string, configured: string | undefined): Buffer {
  if (configured !== undefined) {
    const key = decodeSealingKey(configured);
    if (!key)
      throw new AppError(
        'INVALID_CONFIG',
        `CRM_BRIDGE_ENCRYPTION_KEY must be ${SEAL_KEY_BYTES} bytes in base64 or hex`,
      );
    return key;
  }
  const file = path.join(dataDir, SEALING_KEY_FILE);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    // Written aside, then linked into place: two processes starting together cannot both make a key,
    // and neither can read a half-written one.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(draft, `${randomBytes(SEAL_KEY_BYTES).toString('base64url')}\n`, {
      flag: 'wx',
      mode: 0o600,
    });
    try {
      fs.linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.unlinkSync(draft);
    }
  }
  const key = decodeSealingKey(fs.readFileSync(file, 'utf8'));
  if (!key)
    throw new AppError('INVALID_CONFIG', `${file} does not hold a ${SEAL_KEY_BYTES}-byte key`);
  return key;
}
