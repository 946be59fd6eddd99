// Markdown renderings of a plan shared by every surface (terminal, report file, later PR and Slack).
//
// One file per rendering: the plan (render-plan.ts), the report (render-report.ts) and its chart
// (render-report-chart.ts); this module is the one place the rest of rea imports them from.

export {
  hypothesisChange,
  llmUsageLines,
  type Progress,
  probeLines,
  progressOf,
  renderCostTable,
  renderHypotheses,
  renderPatches,
  renderPlan,
  runLabel,
  winnerChange,
} from './render-plan.ts';
export { type ReportRenderOptions, renderReport } from './render-report.ts';
export { MERMAID_MAX_POINTS, reportChartBars, reportMermaid } from './render-report-chart.ts';
