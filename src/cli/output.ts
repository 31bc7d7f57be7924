/** Plain-text output for the CLI. */
export type Output = (text: string) => void;

/** Left-aligned columns; long cells are cut so rows stay on one line. */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, maxCell = 60): string {
  const cut = (cell: string) => (cell.length > maxCell ? `${cell.slice(0, maxCell - 1)}…` : cell);
  const all = [headers, ...rows].map((row) => row.map((cell) => cut(cell.replace(/\s+/g, ' '))));
  const widths = headers.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  if (rows.length === 0) return `${headers.join('  ')}\n(none)`;
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
