/** The password policy: length bounds and a strength estimate that knows the user's own words. */
import { describe, expect, it } from 'vitest';
import {
  checkPassword,
  OWN_WORDS_PROBLEM,
  PASSWORD_MAX_LENGTH,
} from '../../src/accounts/password-policy.js';

const jane = {
  minLength: 10,
  userInputs: ['jane.doe', 'jane.doe@example.com', 'Jane', 'Doe', 'Acme Club'],
};

describe('checkPassword', () => {
  it('accepts a long password made of unrelated words', () => {
    expect(checkPassword('lantern orbit pickle 47 tractor', jane)).toEqual({ ok: true });
  });

  it('refuses a password shorter than the minimum length, saying how long it must be', () => {
    expect(checkPassword('k7#Qz!pW2', jane)).toEqual({
      ok: false,
      problems: ['Use at least 10 characters.'],
    });
    expect(checkPassword('k7#Qz!pW2', { ...jane, minLength: 9 })).toEqual({ ok: true });
  });

  it('counts characters, not UTF-16 units, against the length bounds', () => {
    expect(checkPassword('🔑🔑🔑🔑🔑🔑🔑🔑🔑', jane)).toEqual({
      ok: false,
      problems: ['Use at least 10 characters.'],
    });
  });

  it(`refuses a password longer than ${PASSWORD_MAX_LENGTH} characters`, () => {
    const result = checkPassword('lantern orbit pickle '.repeat(13), jane);
    expect(result).toEqual({
      ok: false,
      problems: [`Use at most ${PASSWORD_MAX_LENGTH} characters.`],
    });
  });

  it('refuses common passwords with zxcvbn feedback as the problems', () => {
    const result = checkPassword('password1234', jane);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems[0]).toBe('This password is too easy to guess.');
    expect(result.problems).toContain('This is similar to a commonly used password.');
  });

  it("refuses a password built from the user's own name, e-mail or the site name", () => {
    // Strong for a stranger, weak once the user's own words are known.
    const stranger = { minLength: 10, userInputs: [] };
    for (const password of ['JaneDoeExample', 'Jane.Doe.2024!', 'AcmeClubJane']) {
      expect(checkPassword(password, stranger)).toEqual({ ok: true });
      const own = checkPassword(password, jane);
      expect(own.ok).toBe(false);
      if (!own.ok) expect(own.problems).toContain(OWN_WORDS_PROBLEM);
    }
    const email = checkPassword('jane.doe@example.com', jane);
    expect(email.ok).toBe(false);
    if (!email.ok)
      expect(email.problems).toContain('There should not be any personal or page related data.');
  });

  it("accepts a strong password that merely contains one of the user's words", () => {
    expect(checkPassword('lantern orbit pickle jane', jane)).toEqual({ ok: true });
  });

  it('refuses keyboard patterns', () => {
    expect(checkPassword('qwertyuiop1234', jane).ok).toBe(false);
  });
});
