import type { ChartConfiguration } from 'chart.js';
import type { Digest } from '../../core/digest.ts';
import { type ChartSize, DEFAULT_CHART_SIZE, renderChartPng, SERIES_COLORS } from './render.ts';

// The digest's chart: dollars spent per week as bars (left axis) and the best confirmed improvement of a plan
// that finished that week as a line (right axis, percent), over the digest's weeks (8 by default).

export function digestChartConfig(d: Digest): ChartConfiguration {
  const labels = d.series.map((p) => p.monday.slice(5));
  return {
    type: 'bar',
    data: {
      labels,
      datasets: [
        {
          type: 'bar',
          label: 'spend (USD)',
          data: d.series.map((p) => Number(p.usd.toFixed(2))),
          backgroundColor: SERIES_COLORS[0],
          yAxisID: 'usd',
          order: 2,
        },
        {
          type: 'line',
          label: 'best improvement (%)',
          // A week without a finished winner has no point; the line spans the gap.
          data: d.series.map((p) =>
            p.bestImprovement === undefined ? null : Number((p.bestImprovement * 100).toFixed(3)),
          ),
          borderColor: SERIES_COLORS[1],
          backgroundColor: SERIES_COLORS[1],
          spanGaps: true,
          pointRadius: 4,
          yAxisID: 'gain',
          order: 1,
        },
      ],
    },
    options: {
      plugins: {
        title: {
          display: true,
          text: `${d.channel}: spend and best improvement per week (${d.week.timeZone})`,
        },
        legend: { position: 'bottom' },
      },
      scales: {
        usd: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'USD' } },
        gain: {
          type: 'linear',
          position: 'right',
          beginAtZero: true,
          grid: { drawOnChartArea: false },
          title: { display: true, text: 'improvement %' },
        },
        x: { title: { display: true, text: 'week of (Monday)' } },
      },
    },
  } as ChartConfiguration;
}

export function renderDigestChart(d: Digest, size: ChartSize = DEFAULT_CHART_SIZE): Promise<Buffer> {
  return renderChartPng(digestChartConfig(d), size);
}
