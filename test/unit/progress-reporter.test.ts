import { describe, expect, it } from 'vitest';
import { createProgressReporter } from '../../src/cli/progress.js';

describe('progress of a long command', () => {
  it('on a terminal, redraws one bar in place with done/total, rate and errors', () => {
    let now = 0;
    const drawn: string[] = [];
    const lines: string[] = [];
    const progress = createProgressReporter(
      'users',
      (text) => lines.push(text),
      { write: (raw) => drawn.push(raw), columns: () => 100 },
      () => now,
    );
    now = 1000;
    progress.update({ done: 50, total: 200, errors: 1 });
    now = 1050; // within the redraw interval: not drawn again
    progress.update({ done: 60, total: 200, errors: 1 });
    now = 2000;
    progress.update({ done: 200, total: 200, errors: 1 });
    progress.end();
    expect(lines).toEqual([]);
    expect(drawn[0]).toMatch(/^\r\[#+-+\] 50\/200 users, 50\/s, 1 error\u001b\[K$/);
    expect(drawn).toHaveLength(4);
    expect(drawn[2]).toMatch(/^\r\[#{40}\] 200\/200 users, 100\/s, 1 error/);
    expect(drawn[3]).toBe('\n');
  });

  it('elsewhere, prints a plain line every 500 items and at the end, never control characters', () => {
    let now = 0;
    const lines: string[] = [];
    const progress = createProgressReporter(
      'users',
      (text) => lines.push(text),
      undefined,
      () => now,
    );
    for (let done = 1; done <= 1200; done += 1) {
      now = done;
      progress.update({ done, total: 1200, errors: 0 });
    }
    progress.end();
    expect(lines.map((line) => line.split(',')[0])).toEqual([
      '1/1200 users',
      '501/1200 users',
      '1001/1200 users',
      '1200/1200 users',
    ]);
    expect(lines.join('')).not.toMatch(/[\r\u001b]/);
  });
});
