/** The dashboard chart: valid, self-contained SVG with the data drawn and every text escaped. */
import { describe, expect, it } from 'vitest';
import { niceCeiling, renderLineChart } from '../../src/http/svg-chart.js';

const pointsOf = (svg: string, index: number): Array<[number, number]> => {
  const lists = [...svg.matchAll(/points="([^"]*)"/g)].map((match) => match[1] ?? '');
  return (lists[index] ?? '')
    .split(' ')
    .filter(Boolean)
    .map((pair) => pair.split(',').map(Number) as [number, number]);
};

describe('renderLineChart', () => {
  it('draws one polyline per series with a point per value, higher values higher up', () => {
    const svg = renderLineChart({
      title: 'Webhooks per minute',
      series: [
        { name: 'received', color: '#0b57a4', values: [0, 5, 10, 0] },
        { name: 'processed', color: '#2e7d32', values: [0, 0, 10, 10] },
      ],
      startLabel: '12:00',
      endLabel: '12:03',
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg).toContain('role="img"');
    expect(svg).toContain('aria-label="Webhooks per minute"');
    const received = pointsOf(svg, 0);
    expect(received).toHaveLength(4);
    const [first, second, third] = received.map(([, y]) => y);
    // SVG y grows downwards: 10 is above 5, which is above 0.
    expect(third!).toBeLessThan(second!);
    expect(second!).toBeLessThan(first!);
    // Points go left to right.
    expect(received.map(([x]) => x)).toEqual([...received.map(([x]) => x)].sort((a, b) => a - b));
    expect(pointsOf(svg, 1)).toHaveLength(4);
    expect(svg).toContain('>12:00<');
    expect(svg).toContain('>12:03<');
    expect(svg).toContain('>received<');
  });

  it('escapes text and refuses colours that could break out of the attribute', () => {
    const svg = renderLineChart({
      title: '<script>alert(1)</script>',
      series: [{ name: '"><img src=x>', color: 'red" onload="alert(1)', values: [1, 2] }],
      startLabel: 'a & b',
    });
    expect(svg).not.toContain('<script>');
    expect(svg).not.toContain('<img');
    expect(svg).not.toContain('onload');
    expect(svg).toContain('&lt;script&gt;');
    expect(svg).toContain('a &amp; b');
    expect(svg).toContain('stroke="#888"');
  });

  it('loads nothing from outside and copes with no data, one point and bad numbers', () => {
    const empty = renderLineChart({ title: 'empty', series: [] });
    expect(empty).toContain('</svg>');
    const odd = renderLineChart({
      title: 'odd',
      series: [{ name: 's', color: 'teal', values: [Number.NaN, -3, Number.POSITIVE_INFINITY] }],
    });
    expect(odd).not.toMatch(/NaN|Infinity/);
    const single = renderLineChart({
      title: 'one',
      series: [{ name: 's', color: 'teal', values: [4] }],
    });
    expect(pointsOf(single, 0)).toHaveLength(1);
    for (const svg of [empty, odd, single])
      expect(svg).not.toMatch(/href|url\(|<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('rounds the axis up to a readable value', () => {
    expect(niceCeiling(0)).toBe(1);
    expect(niceCeiling(7)).toBe(10);
    expect(niceCeiling(13)).toBe(20);
    expect(niceCeiling(180)).toBe(200);
    expect(niceCeiling(450)).toBe(500);
  });
});
