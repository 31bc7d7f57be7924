/**
 * One statement binds at most a few thousand values on every database we run
 * on (SQLite's limit is 32,766 variables, PostgreSQL's 65,535): lists from
 * outside (a CRM's 10,000 tags) are written and read in chunks of this many.
 */
const ROWS_PER_STATEMENT = 500;

/** `items` cut into consecutive pieces of at most `size`. */
export function chunked<T>(items: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const pieces: T[][] = [];
  for (let start = 0; start < items.length; start += size)
    pieces.push(items.slice(start, start + size));
  return pieces;
}
