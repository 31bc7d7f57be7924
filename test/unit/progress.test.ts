/** A long command's progress as a terminal shows it, and as plain lines for logs. */
import { describe, expect, it } from 'vitest';
import {
  createProgressReporter,
  renderProgressBar,
  renderProgressLine,
} from '../../src/cli/progress.js';

/**
 * A reporter on a clock the test sets with `at`, on a terminal `columns` wide (none
 * without), with the lines it printed and what it drew.
 */
function reporter(columns?: number) {
  let now = 0;
  const lines: string[] = [];
  const drawn: string[] = [];
  const terminal =
    columns === undefined
      ? undefined
      : { write: (raw: string) => drawn.push(raw), columns: () => columns };
  const progress = createProgressReporter(
    (text) => lines.push(text),
    terminal,
    () => now,
  );
  const at = (ms: number) => {
    now = ms;
  };
  return { progress, lines, drawn, at };
}

describe('progress of a long command', () => {
  it('fills the bar in proportion, marks a total still growing, and shows the errors', () => {
    expect(renderProgressBar({ done: 0, total: 0, errors: 0, counting: true })).toBe(
      `[${'-'.repeat(30)}] 0/0+   0%  errors: 0`,
    );
    expect(renderProgressBar({ done: 50, total: 100, errors: 2, counting: false })).toBe(
      `[${'#'.repeat(15)}${'-'.repeat(15)}] 50/100  50%  errors: 2`,
    );
    expect(renderProgressBar({ done: 120, total: 120, errors: 0 })).toBe(
      `[${'#'.repeat(30)}] 120/120 100%  errors: 0`,
    );
  });

  it('narrows the bar so the line fits a narrow terminal, down to ten columns', () => {
    const line = renderProgressBar({ done: 20, total: 40, errors: 0 }, 40);
    expect(line).toBe(`[${'#'.repeat(8)}${'-'.repeat(7)}] 20/40  50%  errors: 0`);
    expect(line.length).toBeLessThan(40);
    expect(renderProgressBar({ done: 20, total: 40, errors: 0 }, 20)).toMatch(/^\[#{5}-{5}\] /);
  });

  it('writes one plain line without any terminal control', () => {
    const line = renderProgressLine({ done: 3, total: 50, errors: 1, counting: true });
    expect(line).toBe('progress: 3 of 50 so far (still listing) done, 1 error(s)');
    expect(line).not.toMatch(/[\r\u001b]/);
    expect(renderProgressLine({ done: 50, total: 50, errors: 0, counting: false })).toBe(
      'progress: 50 of 50 done, 0 error(s)',
    );
  });

  it('on a terminal, redraws one bar in place at most every 100 ms, and ends the line', () => {
    const { progress, lines, drawn, at } = reporter(100);
    at(1000);
    progress.update({ done: 50, total: 200, errors: 1 });
    at(1050); // within the redraw interval: not drawn again
    progress.update({ done: 60, total: 200, errors: 1 });
    at(2000);
    progress.update({ done: 200, total: 200, errors: 1 });
    progress.end();
    expect(lines).toEqual([]);
    expect(drawn).toEqual([
      `\r[${'#'.repeat(8)}${'-'.repeat(22)}] 50/200  25%  errors: 1\u001b[K`,
      `\r[${'#'.repeat(30)}] 200/200 100%  errors: 1\u001b[K`,
      '\n',
    ]);
  });

  // Regression: when listing ended the `+` went and the line shrank by one column, so its
  // last character stayed on screen ("errors: 00").
  it('clears what a longer line drew before', () => {
    const { progress, drawn, at } = reporter(80);
    progress.update({ done: 0, total: 3, errors: 0, counting: true });
    at(200);
    progress.update({ done: 0, total: 3, errors: 0, counting: false });
    expect(drawn).toHaveLength(2);
    expect(drawn.every((raw) => raw.startsWith('\r[') && raw.endsWith('\u001b[K'))).toBe(true);
  });

  it('elsewhere, prints a plain line every 500 items and at the end, never control characters', () => {
    const { progress, lines, at } = reporter();
    for (let done = 1; done <= 1200; done += 1) {
      at(done);
      progress.update({ done, total: 1200, errors: 0 });
    }
    progress.end();
    expect(lines).toEqual([
      'progress: 1 of 1200 done, 0 error(s)',
      'progress: 501 of 1200 done, 0 error(s)',
      'progress: 1001 of 1200 done, 0 error(s)',
      'progress: 1200 of 1200 done, 0 error(s)',
    ]);
    expect(lines.join('')).not.toMatch(/[\r\u001b]/);
  });

  it('elsewhere, prints a line after 5 seconds however few items were done, but never the same line twice', () => {
    const { progress, lines, at } = reporter();
    progress.update({ done: 0, total: 10, errors: 0, counting: true });
    at(4_000);
    progress.update({ done: 1, total: 10, errors: 0 });
    at(5_000);
    progress.update({ done: 2, total: 10, errors: 0 });
    at(11_000);
    progress.update({ done: 2, total: 10, errors: 0 });
    progress.end();
    expect(lines).toEqual([
      'progress: 0 of 10 so far (still listing) done, 0 error(s)',
      'progress: 2 of 10 done, 0 error(s)',
    ]);
  });
});
