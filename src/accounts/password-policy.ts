/**
 * What makes a password acceptable: a length range and a strength estimate
 * (zxcvbn), which also treats the user's own name, e-mail and the site name
 * as easy guesses.
 */
import { createRequire } from 'node:module';
import type * as ZxcvbnCore from '@zxcvbn-ts/core';
import type * as ZxcvbnCommon from '@zxcvbn-ts/language-common';
import type * as ZxcvbnEnglish from '@zxcvbn-ts/language-en';

export const PASSWORD_MAX_LENGTH = 256;
/** zxcvbn score (0–4) a password needs: 3 is "safely unguessable" against online and slow-hash attacks. */
const PASSWORD_MIN_SCORE = 3;

export const OWN_WORDS_PROBLEM =
  'Do not build it from your name, your e-mail address or the site name.';

export interface PasswordRules {
  minLength: number;
  /** Words an attacker would try first: login, e-mail, first and last name, site name. */
  userInputs: readonly string[];
}

export type PasswordCheck = { ok: true } | { ok: false; problems: string[] };

type Estimator = Pick<ZxcvbnCore.ZxcvbnFactory, 'check'>;
let estimator: Estimator | undefined;

/**
 * Built on first use: the dictionaries take a tenth of a second to load and
 * most processes (the CLI, the worker) never check a password.
 */
function strengthEstimator(): Estimator {
  if (!estimator) {
    const require = createRequire(import.meta.url);
    const core = require('@zxcvbn-ts/core') as typeof ZxcvbnCore;
    const common = require('@zxcvbn-ts/language-common') as typeof ZxcvbnCommon;
    const english = require('@zxcvbn-ts/language-en') as typeof ZxcvbnEnglish;
    estimator = new core.ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...english.dictionary },
      graphs: common.adjacencyGraphs,
      translations: english.translations,
    });
  }
  return estimator;
}

/** Each input and its words ("jane.doe@example.com" also gives "jane", "doe", "example"). */
function guessableWords(inputs: readonly string[]): string[] {
  const words = new Set<string>();
  for (const input of inputs) {
    const value = input.trim().toLowerCase();
    if (value === '') continue;
    words.add(value);
    for (const part of value.split(/[^\p{L}\p{N}]+/u)) if (part.length >= 3) words.add(part);
  }
  return [...words];
}

/** How many characters of the password belong to one of the words (case-insensitive). */
function charactersFrom(password: string, words: readonly string[]): number {
  const lower = password.toLowerCase();
  const covered = new Array<boolean>(lower.length).fill(false);
  for (const word of words) {
    for (let at = lower.indexOf(word); at >= 0; at = lower.indexOf(word, at + 1))
      covered.fill(true, at, at + word.length);
  }
  return covered.filter(Boolean).length;
}

export function checkPassword(password: string, rules: PasswordRules): PasswordCheck {
  const length = [...password].length;
  if (length < rules.minLength)
    return { ok: false, problems: [`Use at least ${rules.minLength} characters.`] };
  if (length > PASSWORD_MAX_LENGTH)
    return { ok: false, problems: [`Use at most ${PASSWORD_MAX_LENGTH} characters.`] };
  const words = guessableWords(rules.userInputs);
  const result = strengthEstimator().check(password, words);
  // zxcvbn rates "JaneDoeExample" fairly strong even knowing those words; an attacker who knows them tries such combinations first.
  const mostlyOwnWords = charactersFrom(password, words) * 2 >= password.length;
  if (result.score >= PASSWORD_MIN_SCORE && !mostlyOwnWords) return { ok: true };
  const { warning, suggestions } = result.feedback;
  const problems = [
    'This password is too easy to guess.',
    ...(mostlyOwnWords ? [OWN_WORDS_PROBLEM] : []),
    ...(warning ? [warning] : []),
    ...suggestions,
  ];
  return { ok: false, problems: [...new Set(problems)] };
}
