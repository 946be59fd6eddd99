import { createCanvas } from '@napi-rs/canvas';
import { Chart, type ChartConfiguration, registerables } from 'chart.js';

// Charts for Slack (and benchmark reports) are rendered server-side: Chart.js draws on a Skia canvas from
// @napi-rs/canvas (prebuilt binaries from npm, no browser, no system Cairo). Text uses the system fonts
// (DejaVu on Debian); a machine without fonts still gets the lines and bars, only without labels.

Chart.register(...registerables);

export interface ChartSize {
  width: number;
  height: number;
}

export const DEFAULT_CHART_SIZE: ChartSize = { width: 900, height: 450 };

/** PNG magic number: every chart this module returns starts with it. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Renders a Chart.js configuration to a PNG on a white background. */
export async function renderChartPng(
  config: ChartConfiguration,
  size: ChartSize = DEFAULT_CHART_SIZE,
): Promise<Buffer> {
  const canvas = createCanvas(size.width, size.height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, size.width, size.height);
  const chart = new Chart(
    ctx as unknown as ConstructorParameters<typeof Chart>[0],
    {
      ...config,
      options: {
        ...config.options,
        // Node has no animation frames or resize observers: draw once, at the given size.
        animation: false,
        responsive: false,
        devicePixelRatio: 1,
      },
    } as ChartConfiguration,
  );
  try {
    return Buffer.from(await canvas.encode('png'));
  } finally {
    chart.destroy();
  }
}

/** Reads width and height from a PNG's IHDR chunk (for tests and size checks). */
export function pngDimensions(png: Buffer): ChartSize | undefined {
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (png.subarray(12, 16).toString('ascii') !== 'IHDR') return undefined;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** A palette that stays readable for up to eight series (Okabe-Ito, colour-blind safe). */
export const SERIES_COLORS = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
  '#000000',
] as const;
