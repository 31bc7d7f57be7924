/** A progress bar for terminals, and the plain lines written instead when output is not one. */
import type { Output } from './output.js';

export interface ProgressFigures {
  readonly done: number;
  readonly total: number;
  readonly errors: number;
  /** True while the total is still growing (contacts still being listed). */
  readonly counting: boolean;
}

const WIDTH = 30;

/** `[#########-----] 45/100  45%  errors: 2` (the total marked `+` while it still grows). */
export function renderProgressBar(figures: ProgressFigures): string {
  const share = figures.total === 0 ? 0 : Math.min(1, figures.done / figures.total);
  const filled = Math.round(share * WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
  const total = `${figures.total}${figures.counting ? '+' : ''}`;
  return `[${bar}] ${figures.done}/${total} ${String(Math.floor(share * 100)).padStart(3)}%  errors: ${figures.errors}`;
}

/** One plain line of progress, for logs and pipes. */
export function renderProgressLine(figures: ProgressFigures): string {
  const total = figures.counting ? `${figures.total} so far (still listing)` : `${figures.total}`;
  return `progress: ${figures.done} of ${total} done, ${figures.errors} error(s)`;
}

/** A terminal to draw on; present only when standard output is one. */
export interface Terminal {
  write(raw: string): void;
  columns(): number;
}

interface ProgressCounts {
  done: number;
  total: number;
  errors: number;
}

export interface ProgressReporter {
  update(counts: ProgressCounts): void;
  /** Draws the last state and ends the line. */
  end(): void;
}

const REDRAW_MS = 100;
const PLAIN_EVERY = 500;
const PLAIN_MS = 5_000;

function describe(noun: string, counts: ProgressCounts, startedAt: number, now: number): string {
  const seconds = Math.max((now - startedAt) / 1000, 0.001);
  const rate = counts.done / seconds;
  return `${counts.done}/${counts.total} ${noun}, ${rate < 10 ? rate.toFixed(1) : Math.round(rate)}/s, ${counts.errors} error${counts.errors === 1 ? '' : 's'}`;
}

export function createProgressReporter(
  noun: string,
  out: Output,
  terminal: Terminal | undefined,
  now: () => number = () => performance.now(),
): ProgressReporter {
  const startedAt = now();
  let last: ProgressCounts = { done: 0, total: 0, errors: 0 };
  let drawnAt = -Infinity;
  let printedDone = 0;
  const draw = () => {
    if (!terminal) return;
    const text = describe(noun, last, startedAt, now());
    const width = Math.max(10, Math.min(40, terminal.columns() - text.length - 4));
    const share = last.total > 0 ? Math.min(1, last.done / last.total) : 1;
    const filled = Math.round(share * width);
    terminal.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}\u001b[K`);
  };
  return {
    update(counts) {
      last = counts;
      const at = now();
      if (terminal) {
        if (at - drawnAt >= REDRAW_MS) {
          drawnAt = at;
          draw();
        }
        return;
      }
      if (counts.done - printedDone >= PLAIN_EVERY || at - drawnAt >= PLAIN_MS) {
        drawnAt = at;
        printedDone = counts.done;
        out(describe(noun, counts, startedAt, at));
      }
    },
    end() {
      if (terminal) {
        draw();
        terminal.write('\n');
      } else if (last.done !== printedDone || last.done === 0) {
        out(describe(noun, last, startedAt, now()));
      }
    },
  };
}
