/** The README documents every environment variable and every setting the code knows. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../../src/config.js';
import { ERRORS } from '../../src/errors.js';
import { SETTING_NAMES } from '../../src/settings/settings.js';

const read = (file: string) =>
  fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', file), 'utf8');
const readme = read('README.md');

describe('README', () => {
  it('lists every CRM_BRIDGE_ variable', () => {
    const missing = Object.keys(ENV_VARIABLES).filter(
      (name) => !readme.includes(`\`CRM_BRIDGE_${name}\``),
    );
    expect(missing).toEqual([]);
  });

  it('lists every setting', () => {
    const missing = SETTING_NAMES.filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('docs/errors.md', () => {
  it('lists every error code', () => {
    const errors = read('docs/errors.md');
    expect(Object.keys(ERRORS).filter((code) => !errors.includes(`\`${code}\``))).toEqual([]);
  });
});
