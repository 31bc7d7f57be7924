/** The import's progress as a terminal shows it, and as plain lines for logs. */
import { describe, expect, it } from 'vitest';
import { renderProgressBar, renderProgressLine } from '../../src/cli/progress.js';

describe('import progress', () => {
  it('fills the bar in proportion, marks a total still growing, and shows the errors', () => {
    expect(renderProgressBar({ done: 0, total: 0, errors: 0, counting: true })).toBe(
      `[${'-'.repeat(30)}] 0/0+   0%  errors: 0`,
    );
    expect(renderProgressBar({ done: 50, total: 100, errors: 2, counting: false })).toBe(
      `[${'#'.repeat(15)}${'-'.repeat(15)}] 50/100  50%  errors: 2`,
    );
    expect(renderProgressBar({ done: 120, total: 120, errors: 0, counting: false })).toBe(
      `[${'#'.repeat(30)}] 120/120 100%  errors: 0`,
    );
  });

  it('writes one plain line without any terminal control', () => {
    const line = renderProgressLine({ done: 3, total: 50, errors: 1, counting: true });
    expect(line).toBe('progress: 3 of 50 so far (still listing) done, 1 error(s)');
    expect(line).not.toMatch(/[\r\u001b]/);
    expect(renderProgressLine({ done: 50, total: 50, errors: 0, counting: false })).toBe(
      'progress: 50 of 50 done, 0 error(s)',
    );
  });
});
