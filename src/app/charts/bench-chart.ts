import type { ChartConfiguration } from 'chart.js';
import { renderChartPng, SERIES_COLORS } from './render.ts';

// The search-efficiency chart of `rea bench search`: the median (over seeds) full-fidelity improvement of
// each strategy's pick against the GPU-hours it has spent, one line per strategy, as a PNG (Chart.js on
// @napi-rs/canvas through the shared renderer).

export interface BenchChartSeries {
  label: string;
  /** Improvement (a fraction: 0.05 is +5%) at each x of the grid. */
  values: number[];
}

export interface BenchChartInput {
  title: string;
  /** GPU-hours. */
  grid: number[];
  series: BenchChartSeries[];
  /** Horizontal guides, e.g. 50% and 90% of the best improvement. */
  guides?: Array<{ label: string; value: number }>;
  width?: number;
  height?: number;
}

export function benchChartConfig(
  input: BenchChartInput,
): ChartConfiguration<'line', Array<{ x: number; y: number }>> {
  const points = (values: number[]) => input.grid.map((x, i) => ({ x, y: values[i]! * 100 }));
  return {
    type: 'line',
    data: {
      datasets: [
        ...input.series.map((s, i) => ({
          label: s.label,
          data: points(s.values),
          borderColor: SERIES_COLORS[i % SERIES_COLORS.length]!,
          backgroundColor: SERIES_COLORS[i % SERIES_COLORS.length]!,
          borderWidth: 2,
          pointRadius: 0,
          // The pick changes only when a run finishes: a step function, not a slope.
          stepped: 'before' as const,
        })),
        ...(input.guides ?? []).map((g) => ({
          label: g.label,
          data: points(input.grid.map(() => g.value)),
          borderColor: '#999999',
          backgroundColor: '#999999',
          borderDash: [6, 4],
          borderWidth: 1,
          pointRadius: 0,
        })),
      ],
    },
    options: {
      animation: false,
      responsive: false,
      parsing: false,
      plugins: {
        title: { display: true, text: input.title },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'GPU-hours spent searching' } },
        y: { title: { display: true, text: 'improvement over baseline, full fidelity, fresh seeds (%)' } },
      },
    },
  };
}

export function renderBenchChart(input: BenchChartInput): Promise<Buffer> {
  return renderChartPng(benchChartConfig(input) as ChartConfiguration, {
    width: input.width ?? 960,
    height: input.height ?? 540,
  });
}
