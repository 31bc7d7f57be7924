/**
 * The progress of a long command (`import crm`, `import wordpress`): one bar
 * redrawn in place on a terminal, and plain lines now and then elsewhere.
 */
import type { Output } from './output.js';

export interface ProgressFigures {
  readonly done: number;
  readonly total: number;
  readonly errors: number;
  /** True while the total is still growing (contacts still being listed). */
  readonly counting?: boolean | undefined;
}

/** A terminal to draw on; present only when the output is one. */
export interface Terminal {
  write(raw: string): void;
  columns(): number;
}

export interface ProgressReporter {
  update(figures: ProgressFigures): void;
  /** Shows the last state and ends the line. */
  end(): void;
}

const BAR_WIDTH = 30;
const MIN_BAR_WIDTH = 10;
const REDRAW_MS = 100;
const PLAIN_EVERY = 500;
const PLAIN_MS = 5_000;

/**
 * `[#########-----] 45/100  45%  errors: 2` (the total marked `+` while it
 * still grows); the bar narrows so the line fits in `columns`.
 */
export function renderProgressBar(figures: ProgressFigures, columns = Infinity): string {
  const share = figures.total === 0 ? 0 : Math.min(1, figures.done / figures.total);
  const total = `${figures.total}${figures.counting === true ? '+' : ''}`;
  const text = `${figures.done}/${total} ${String(Math.floor(share * 100)).padStart(3)}%  errors: ${figures.errors}`;
  // `[`, `] ` and one column spare: a line as wide as the terminal wraps, and `\r` no longer redraws it.
  const width = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, columns - text.length - 4));
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`;
}

/** One plain line of progress, for logs and pipes. */
export function renderProgressLine(figures: ProgressFigures): string {
  const total =
    figures.counting === true ? `${figures.total} so far (still listing)` : `${figures.total}`;
  return `progress: ${figures.done} of ${total} done, ${figures.errors} error(s)`;
}

/**
 * Reports progress on `terminal` when there is one (redrawn at most every
 * 100 ms), else as plain lines on `out` (every 500 items or 5 seconds, and at
 * the end), never the same line twice.
 */
export function createProgressReporter(
  out: Output,
  terminal: Terminal | undefined,
  now: () => number = () => performance.now(),
): ProgressReporter {
  let last: ProgressFigures = { done: 0, total: 0, errors: 0 };
  let shown: string | undefined;
  let shownAt = -Infinity;
  let shownDone = 0;
  const show = (line: string, at: number) => {
    if (line === shown) return;
    shown = line;
    shownAt = at;
    shownDone = last.done;
    // Cleared to the end: a shorter line (the `+` gone when listing ends) leaves nothing stale behind.
    if (terminal) terminal.write(`\r${line}\u001b[K`);
    else out(line);
  };
  const render = () =>
    terminal ? renderProgressBar(last, terminal.columns()) : renderProgressLine(last);
  return {
    update(figures) {
      last = figures;
      const at = now();
      const due = terminal
        ? at - shownAt >= REDRAW_MS
        : figures.done - shownDone >= PLAIN_EVERY || at - shownAt >= PLAIN_MS;
      if (due) show(render(), at);
    },
    end() {
      show(render(), now());
      terminal?.write('\n');
    },
  };
}
