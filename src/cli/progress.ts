/** A progress bar for terminals, and the plain lines written instead when output is not one. */

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
