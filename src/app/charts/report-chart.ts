import type { ChartConfiguration } from 'chart.js';
import { PHASES } from '../../core/model.ts';
import type { PlanReport } from '../../core/report.ts';
import { type ChartSize, DEFAULT_CHART_SIZE, renderChartPng, SERIES_COLORS } from './render.ts';

// The report chart for Slack: the primary metric of every successful run in the order the plan ran them,
// candidates coloured by phase and baseline runs as black diamonds, so that a reader sees each phase move
// the metric against its baseline (fidelity changes between phases shift both together).

export interface ReportChart {
  png: Buffer;
  filename: string;
  title: string;
  /** What a screen reader says, and what Slack shows when the image cannot load. */
  altText: string;
}

const BASELINE_COLOR = '#000000';

export function reportChartConfig(report: PlanReport): ChartConfiguration<'scatter'> {
  const pts = report.chart;
  const datasets: ChartConfiguration<'scatter'>['data']['datasets'] = [];
  PHASES.forEach((phase, i) => {
    const data = pts
      .filter((p) => p.phase === phase && p.role === 'candidate')
      .map((p) => ({ x: p.order, y: p.value }));
    if (data.length === 0) return;
    datasets.push({
      label: phase,
      data,
      backgroundColor: SERIES_COLORS[i % SERIES_COLORS.length],
      borderColor: SERIES_COLORS[i % SERIES_COLORS.length],
      pointRadius: pts.length > 500 ? 2 : 4,
    });
  });
  const base = pts.filter((p) => p.role === 'baseline').map((p) => ({ x: p.order, y: p.value }));
  if (base.length > 0) {
    datasets.push({
      label: 'baseline',
      data: base,
      backgroundColor: BASELINE_COLOR,
      borderColor: BASELINE_COLOR,
      pointStyle: 'rectRot',
      pointRadius: pts.length > 500 ? 3 : 6,
    });
  }
  const better = report.metric.goal === 'minimize' ? 'lower' : 'higher';
  return {
    type: 'scatter',
    data: { datasets },
    options: {
      plugins: {
        title: {
          display: true,
          text: `Plan ${report.planId}: ${report.metric.name} by run and phase (${better} is better)`,
        },
        legend: { position: 'bottom', labels: { usePointStyle: true } },
      },
      scales: {
        x: { title: { display: true, text: 'run (in the order planned)' }, ticks: { precision: 0 } },
        y: { title: { display: true, text: report.metric.name } },
      },
    },
  };
}

/** The PNG for the plan's Slack thread; undefined when fewer than two runs produced the metric. */
export async function renderReportChart(
  report: PlanReport,
  size: ChartSize = DEFAULT_CHART_SIZE,
): Promise<ReportChart | undefined> {
  if (report.chart.length < 2) return undefined;
  const phases = PHASES.filter((ph) => report.chart.some((p) => p.phase === ph));
  const baselines = report.chart.filter((p) => p.role === 'baseline').length;
  return {
    png: await renderChartPng(reportChartConfig(report), size),
    filename: `rea-${report.planId}-${report.metric.name.replace(/[^A-Za-z0-9_-]/g, '_')}.png`,
    title: `${report.metric.name} by run and phase, plan ${report.planId}`,
    altText:
      `Scatter plot of ${report.metric.name} for ${report.chart.length} successful runs of plan ${report.planId}, in the order they were planned, coloured by phase (${phases.join(', ')}), with ${baselines} baseline runs marked as black diamonds. ${report.metric.goal === 'minimize' ? 'Lower' : 'Higher'} is better.`.slice(
        0,
        1000,
      ),
  };
}
