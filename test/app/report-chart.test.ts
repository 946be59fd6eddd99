import { describe, expect, it } from 'vitest';
import { PNG_SIGNATURE, pngDimensions } from '../../src/app/charts/render.ts';
import { renderReportChart, reportChartConfig } from '../../src/app/charts/report-chart.ts';
import { buildReport } from '../../src/core/report.ts';
import { finishedPlan, hugePlan, proposedPlan } from '../adapters/slack/plans.ts';

// The report chart for Slack: a real PNG drawn from the plan's runs, one series per phase plus the baseline.

describe('report chart', () => {
  it('has one series per phase and the baseline, with every successful run once', async () => {
    const report = buildReport(await finishedPlan());
    const config = reportChartConfig(report);
    expect(config.data.datasets.map((d) => d.label)).toEqual([
      'validation',
      'combination',
      'exploitation',
      'baseline',
    ]);
    const points = config.data.datasets.flatMap((d) => d.data as Array<{ x: number; y: number }>);
    expect(points).toHaveLength(report.chart.length);
    expect(new Set(points.map((p) => p.x)).size).toBe(points.length);
    const baseline = config.data.datasets.at(-1)!;
    expect(baseline.data).toHaveLength(report.chart.filter((p) => p.role === 'baseline').length);
  });

  it('renders a valid PNG of the default size with a describing title and alt text', async () => {
    const plan = await finishedPlan();
    const chart = (await renderReportChart(buildReport(plan)))!;
    expect(chart.png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(pngDimensions(chart.png)).toEqual({ width: 900, height: 450 });
    // Axes, labels and 36 points take tens of kilobytes; a blank canvas compresses to a few hundred bytes.
    expect(chart.png.length).toBeGreaterThan(10_000);
    expect(chart.png.length).toBeLessThan(1_000_000);
    expect(chart.filename).toBe(`rea-${plan.id}-ne.png`);
    expect(chart.altText).toContain('coloured by phase (validation, combination, exploitation)');
  });

  it('draws 3,000 points of a huge plan within a sensible size, and nothing for a plan without runs', async () => {
    const chart = (await renderReportChart(buildReport(await hugePlan()), { width: 1200, height: 600 }))!;
    expect(pngDimensions(chart.png)).toEqual({ width: 1200, height: 600 });
    expect(chart.png.length).toBeLessThan(2_000_000);
    expect(await renderReportChart(buildReport(proposedPlan()))).toBeUndefined();
  });
});
