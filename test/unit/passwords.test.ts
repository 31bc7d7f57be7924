/** Password hashes: a fast keyed hash for generated passwords, argon2id for all others. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  GENERATED_PASSWORD_BITS,
  generatePassword,
  hashGeneratedPassword,
  hashPassword,
  isGeneratedHash,
  needsRehash,
  verifyPassword,
} from '../../src/directory/passwords.js';
import { createSealer } from '../../src/lib/seal.js';

const sealer = createSealer(randomBytes(32));

describe('generated passwords', () => {
  it('are at least 96-bit random secrets', () => {
    expect(GENERATED_PASSWORD_BITS).toBeGreaterThanOrEqual(96);
    expect(new Set(Array.from({ length: 1000 }, () => generatePassword())).size).toBe(1000);
  });

  it('are stored with the fast keyed scheme, marked as generated, and verify with the key', async () => {
    const password = generatePassword();
    const stored = hashGeneratedPassword(password, sealer);
    expect(stored).toMatch(/^\$gen-hmac-sha256\$v=1\$[\w-]{22}\$[\w-]{43}$/);
    expect(isGeneratedHash(stored)).toBe(true);
    expect(stored).not.toContain(password);
    expect(await verifyPassword(password, stored, sealer)).toBe(true);
    expect(await verifyPassword(`${password}x`, stored, sealer)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it('do not verify under another key or without one: a database dump alone tests no guesses', async () => {
    const password = generatePassword();
    const stored = hashGeneratedPassword(password, sealer);
    expect(await verifyPassword(password, stored, createSealer(randomBytes(32)))).toBe(false);
    expect(await verifyPassword(password, stored)).toBe(false);
  });

  it('salt each hash: the same password stores differently', () => {
    const password = generatePassword();
    expect(hashGeneratedPassword(password, sealer)).not.toBe(
      hashGeneratedPassword(password, sealer),
    );
  });

  it('hash in well under a millisecond each', () => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < 1000; i += 1) hashGeneratedPassword(generatePassword(), sealer);
    const perHashMs = Number(process.hrtime.bigint() - started) / 1e6 / 1000;
    expect(perHashMs).toBeLessThan(1);
  });
});

describe('chosen passwords', () => {
  it('use argon2id, which a generated-scheme check never accepts', async () => {
    const stored = await hashPassword('lantern orbit pickle 47 tractor');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(isGeneratedHash(stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
    expect(await verifyPassword('lantern orbit pickle 47 tractor', stored, sealer)).toBe(true);
  });

  it('hash off the event loop: timers keep running while argon2id works', async () => {
    let ticks = 0;
    let hashing = true;
    const tick = (): void => {
      ticks += 1;
      if (hashing) setImmediate(tick);
    };
    setImmediate(tick);
    await Promise.all([hashPassword('one chosen password'), hashPassword('another chosen one')]);
    hashing = false;
    // Hashing on the event loop would finish before the first tick could run.
    expect(ticks).toBeGreaterThan(1);
  });
});
