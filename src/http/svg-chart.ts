/**
 * A small line chart drawn as an SVG string, for pages to embed inline: no
 * script, no external assets, every text escaped. Pure: data in, markup out.
 */
import { escapeHtml } from '../lib/html.js';

interface ChartSeries {
  readonly name: string;
  /** A CSS colour (only `#rgb`/`#rrggbb` and plain names are kept; anything else draws grey). */
  readonly color: string;
  readonly values: readonly number[];
}

export interface LineChartInput {
  /** Read by screen readers and shown as a tooltip. */
  readonly title: string;
  readonly series: readonly ChartSeries[];
  /** Labels under the first and the last point, e.g. times. */
  readonly startLabel?: string;
  readonly endLabel?: string;
  readonly width?: number;
  readonly height?: number;
}

const MARGIN = { top: 12, right: 12, bottom: 40, left: 44 };

const safeColor = (color: string) =>
  /^(#[0-9a-f]{3}|#[0-9a-f]{6}|[a-z]{3,20})$/i.test(color) ? color : '#888';

const round = (value: number) => Math.round(value * 10) / 10;

/** A ceiling with one or two significant digits (1, 2, 5, 10, 20, 50 …) so the axis reads well. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= value) ?? 10;
  return step * power;
}

export function renderLineChart(input: LineChartInput): string {
  const width = input.width ?? 720;
  const height = input.height ?? 220;
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const points = Math.max(0, ...input.series.map((series) => series.values.length));
  const finite = (value: number) => (Number.isFinite(value) && value > 0 ? value : 0);
  const top = niceCeiling(
    Math.max(0, ...input.series.flatMap((series) => series.values.map(finite))),
  );
  const x = (index: number) =>
    MARGIN.left + (points <= 1 ? plotWidth : (index / (points - 1)) * plotWidth);
  const y = (value: number) => MARGIN.top + plotHeight - (finite(value) / top) * plotHeight;
  const baseline = MARGIN.top + plotHeight;

  const lines = input.series.map((series) => {
    const path = series.values.map((value, index) => `${round(x(index))},${round(y(value))}`);
    return `<polyline fill="none" stroke="${safeColor(series.color)}" stroke-width="1.5" stroke-linejoin="round" points="${path.join(' ')}"><title>${escapeHtml(series.name)}</title></polyline>`;
  });
  const grid = [0, 0.5, 1].map((share) => {
    const value = top * share;
    const at = round(y(value));
    return `<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${at}" y2="${at}" stroke="#ddd"/><text x="${MARGIN.left - 6}" y="${at + 4}" text-anchor="end">${escapeHtml(String(round(value)))}</text>`;
  });
  const legend = input.series.map((series, index) => {
    const left = MARGIN.left + index * 160;
    return `<rect x="${left}" y="${height - 14}" width="12" height="4" fill="${safeColor(series.color)}"/><text x="${left + 18}" y="${height - 9}">${escapeHtml(series.name)}</text>`;
  });
  const axisLabels = [
    input.startLabel
      ? `<text x="${MARGIN.left}" y="${baseline + 16}">${escapeHtml(input.startLabel)}</text>`
      : '',
    input.endLabel
      ? `<text x="${width - MARGIN.right}" y="${baseline + 16}" text-anchor="end">${escapeHtml(input.endLabel)}</text>`
      : '',
  ];
  const title = escapeHtml(input.title);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="${title}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui,sans-serif" font-size="11" fill="#333">`,
    `<title>${title}</title>`,
    ...grid,
    `<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${baseline}" y2="${baseline}" stroke="#999"/>`,
    ...lines,
    ...axisLabels,
    ...legend,
    '</svg>',
  ].join('');
}
