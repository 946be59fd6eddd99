import { createCanvas } from '@napi-rs/canvas';
import { Chart, type ChartConfiguration, registerables } from 'chart.js';

// The search-efficiency chart of `rea bench search`: the median (over seeds) full-fidelity improvement of
// each strategy's pick against the GPU-hours it has spent, one line per strategy, drawn to PNG without a
// browser (chart.js on @napi-rs/canvas).

Chart.register(...registerables);

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

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export async function renderBenchChart(input: BenchChartInput): Promise<Buffer> {
  const width = input.width ?? 960;
  const height = input.height ?? 540;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  const points = (values: number[]) => input.grid.map((x, i) => ({ x, y: values[i]! * 100 }));
  const config: ChartConfiguration<'line', Array<{ x: number; y: number }>> = {
    type: 'line',
    data: {
      datasets: [
        ...input.series.map((s, i) => ({
          label: s.label,
          data: points(s.values),
          borderColor: COLORS[i % COLORS.length]!,
          backgroundColor: COLORS[i % COLORS.length]!,
          borderWidth: 2,
          pointRadius: 0,
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
  // chart.js accepts a canvas 2D context; @napi-rs/canvas implements the parts it draws with.
  const chart = new Chart(ctx as unknown as ConstructorParameters<typeof Chart>[0], config);
  try {
    return await canvas.encode('png');
  } finally {
    chart.destroy();
  }
}
