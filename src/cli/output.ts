/** Plain-text output for the CLI. */
export type Output = (text: string) => void;

/** C0 controls but newline, DEL and C1 controls: a terminal acts on them (ESC starts a sequence). */
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;
const CONTROLS_AND_NEWLINE = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Shows control characters as `\u001b`-style escapes, so text from webhooks
 * cannot move the cursor, recolour or retitle a terminal. The escape is also
 * valid inside a JSON string, so JSON output stays JSON. With `keepNewlines`
 * (whole outputs) line breaks stay; without (single values) they are escaped
 * too, so a value cannot forge a line of its own.
 */
export function escapeControls(text: string, keepNewlines = false): string {
  return text.replace(
    keepNewlines ? CONTROLS : CONTROLS_AND_NEWLINE,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** An output that escapes control characters in everything it prints. */
export function terminalSafe(output: Output): Output {
  return (text) => output(escapeControls(text, true));
}

/** Left-aligned columns; long cells are cut so rows stay on one line. */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  maxCell = 60,
): string {
  const cut = (cell: string) => (cell.length > maxCell ? `${cell.slice(0, maxCell - 1)}…` : cell);
  const all = [headers, ...rows].map((row) =>
    row.map((cell) => cut(escapeControls(cell.replace(/\s+/g, ' ')))),
  );
  const widths = headers.map((_, column) =>
    Math.max(...all.map((row) => (row[column] ?? '').length)),
  );
  if (rows.length === 0) return `${headers.join('  ')}\n(none)`;
  return all
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
