import { describe, expect, it } from 'vitest';
import { PNG_SIGNATURE, pngDimensions, renderChartPng } from '../../src/app/charts/render.ts';

describe('renderChartPng', () => {
  it('draws a chart to a PNG of the requested size', async () => {
    const png = await renderChartPng(
      {
        type: 'line',
        data: {
          labels: ['w1', 'w2', 'w3'],
          datasets: [{ label: 'best improvement', data: [0.01, 0.03, 0.02] }],
        },
      },
      { width: 640, height: 320 },
    );
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(pngDimensions(png)).toEqual({ width: 640, height: 320 });
    // A blank canvas compresses to a few hundred bytes; axes, labels and a line take several kilobytes.
    expect(png.length).toBeGreaterThan(3_000);
    expect(png.length).toBeLessThan(500_000);
  });

  it('draws different data differently (the pixels come from the data, not a fixed image)', async () => {
    const chart = (data: number[]) =>
      renderChartPng({ type: 'bar', data: { labels: ['a', 'b'], datasets: [{ label: 'x', data }] } });
    const [a, b] = await Promise.all([chart([1, 2]), chart([2, 1])]);
    expect(a.equals(b)).toBe(false);
  });

  it('rejects bytes that are not a PNG', () => {
    expect(pngDimensions(Buffer.from('not a png at all, not even close'))).toBeUndefined();
  });
});
