/**
 * The README documents every environment variable and every setting the code
 * knows; docs/errors.md documents exactly the registry's error codes.
 */
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
  /** The rows of every Markdown table (a header, its `---` line, then rows) whose first cell is a code. */
  const documentedRows = () => {
    const lines = read('docs/errors.md').split('\n');
    const rows: { code: string; cells: Record<string, string> }[] = [];
    let header: string[] | undefined;
    for (let index = 0; index < lines.length; index += 1) {
      const line = lines[index]!.trim();
      if (!line.startsWith('|')) {
        header = undefined;
        continue;
      }
      const cells = line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim());
      if (header === undefined) {
        // A table starts with its header and the `---` line under it; other `|` lines are text.
        if (/^\|(\s*-+\s*\|)+$/.test(lines[index + 1]?.trim() ?? '')) {
          header = cells;
          index += 1;
        }
        continue;
      }
      const code = /^`([A-Z_]+)`$/.exec(cells[0] ?? '')?.[1];
      if (code) {
        const named = Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']));
        rows.push({ code, cells: named });
      }
    }
    return rows;
  };

  it('lists every error code of the registry in a table', () => {
    const documented = new Set(documentedRows().map((row) => row.code));
    expect(Object.keys(ERRORS).filter((code) => !documented.has(code))).toEqual([]);
  });

  it('documents only codes the registry has, each once', () => {
    const codes = documentedRows().map((row) => row.code);
    expect(codes.filter((code) => !Object.hasOwn(ERRORS, code))).toEqual([]);
    expect(codes.filter((code, index) => codes.indexOf(code) !== index)).toEqual([]);
  });

  it('gives each code the HTTP status and retry flag of the registry', () => {
    const wrong = documentedRows()
      .filter((row) => Object.hasOwn(ERRORS, row.code))
      .filter((row) => {
        const entry = ERRORS[row.code as keyof typeof ERRORS];
        return (
          row.cells.HTTP !== String(entry.status) ||
          row.cells.retried !== (entry.retryable ? 'yes' : 'no')
        );
      })
      .map((row) => `${row.code}: HTTP ${row.cells.HTTP}, retried ${row.cells.retried}`);
    expect(wrong).toEqual([]);
  });
});
