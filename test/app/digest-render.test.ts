import { describe, expect, it } from 'vitest';
import { digestMessage } from '../../src/adapters/slack/blocks.ts';
import { renderDigestChart } from '../../src/app/charts/digest-chart.ts';
import { PNG_SIGNATURE, pngDimensions } from '../../src/app/charts/render.ts';
import { renderDigestMarkdown } from '../../src/app/digest-render.ts';
import { synthWeek } from '../../src/app/digest-synth.ts';
import { computeDigest, weekContaining } from '../../src/core/digest.ts';
import { BLOCK_KIT_LIMITS, validateBlocks } from '../emulators/slack/index.ts';

// The digest's renderings: golden files for a small week, Slack's limits for a huge one, a real PNG chart.

const WEEK = weekContaining('2026-11-18T12:00:00Z', 'UTC');

function digestOf(opts: { plans: number; runs: number; insights: number; textLength?: number }) {
  const world = synthWeek({ week: WEEK, channels: ['C0EXPERIMENTS'], ...opts });
  return computeDigest({
    channel: 'C0EXPERIMENTS',
    week: WEEK,
    plans: world.plans,
    insights: world.insights,
    now: WEEK.end,
  });
}

describe('digest rendering', () => {
  const small = digestOf({ plans: 10, runs: 60, insights: 12 });

  it('renders Markdown for the terminal (golden)', async () => {
    const md = renderDigestMarkdown(small);
    expect(md).toContain('## Wins and promotions');
    await expect(md).toMatchFileSnapshot('__golden__/digest.md');
  });

  it('renders Block Kit that Slack accepts (golden)', async () => {
    const msg = digestMessage(small);
    expect(validateBlocks(msg.blocks as unknown[])).toEqual([]);
    await expect(`${JSON.stringify(msg, null, 2)}\n`).toMatchFileSnapshot('__golden__/digest-blocks.json');
  });

  it('stays within Slack limits for 50 plans and 5,000 runs with long texts, saying what it left out', () => {
    const huge = digestOf({ plans: 50, runs: 5000, insights: 2000, textLength: 600 });
    const msg = digestMessage(huge);
    expect(validateBlocks(msg.blocks as unknown[])).toEqual([]);
    expect(msg.blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocksPerMessage);
    for (const b of msg.blocks as Array<{ text?: { text: string } }>)
      expect(b.text?.text.length ?? 0).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.sectionText);
    const text = JSON.stringify(msg.blocks);
    expect(text).toMatch(/… and \d+ more plans: see/);
    expect(msg.text.length).toBeLessThanOrEqual(3000);
  });

  it('draws the 8-week chart as a PNG of sensible size', async () => {
    const png = await renderDigestChart(small);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(pngDimensions(png)).toEqual({ width: 900, height: 450 });
    // A blank canvas compresses to a few kB; bars, a line, axes and labels take more, a photo far more.
    expect(png.length).toBeGreaterThan(15_000);
    expect(png.length).toBeLessThan(500_000);
  });
});
