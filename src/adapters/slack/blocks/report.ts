import { pct } from '../../../core/analysis.ts';
import { fmtHours } from '../../../core/decide.ts';
import { fmtValue } from '../../../core/knobs.ts';
import type { PlanState } from '../../../core/model.ts';
import {
  buildReport,
  type FailureAction,
  type PlanReport,
  type ReportInsight,
} from '../../../core/report.ts';
import {
  type Block,
  context,
  esc,
  header,
  listSections,
  message,
  monoTable,
  prose,
  type SlackMessage,
  STATUS,
  section,
  usd,
  who,
} from './kit.ts';

// The final report in the plan's thread: the outcome, what each phase decided, dead ends, failures and what
// rea did about them, spend, insights and next ideas. Each list is cut to fit, pointing at the full report.

const FAILURE_ACTION: Record<FailureAction, string> = {
  retried: 'retried',
  'retried with changes': 'retried with a changed configuration',
  skipped: 'skipped as infeasible',
  escalated: 'escalated to a person',
  cancelled: 'cancelled with the plan',
  none: 'left as they were (no runbook matched)',
};

const INSIGHT_CHANGE: Record<ReportInsight['change'], string> = {
  new: 'new',
  changed: 'status changed',
  strengthened: 'narrower interval',
  unchanged: 'confirmed',
};

function settings(overrides: PlanState['baseline']): string {
  return Object.entries(overrides)
    .map(([k, v]) => `\`${esc(k)}: ${esc(fmtValue(v))}\``)
    .join(', ');
}

function spendTable(r: PlanReport): string {
  const rows = r.spend.phases
    .filter((p) => p.runs > 0 || p.estimateGpuHoursP50 > 0)
    .map((p) => [p.phase, String(p.runs), fmtHours(p.gpuHours), fmtHours(p.estimateGpuHoursP50), usd(p.usd)]);
  const s = r.spend;
  rows.push(['total', String(s.runs), fmtHours(s.gpuHours), fmtHours(s.estimateGpuHoursP50), usd(s.usd)]);
  const head = ['phase', 'runs', 'GPU-h', 'p50 est.', 'USD'];
  return monoTable(head, rows);
}

/** Insight rows shown in the thread: the ones that changed come first, the rest are one click away. */
const INSIGHT_LINES = 8;

/** The first `n` lines and, when some are left out, a line saying how many. */
function firstLines(lines: string[], n: number, more: (left: number) => string): string[] {
  return lines.length <= n ? lines : [...lines.slice(0, n), more(lines.length - n)];
}

/** The header of the final report reply, by which SlackChat recognises a report already in the thread. */
export const reportHeader = (planId: string) => `Final report: plan ${planId}`;

export interface FinalReportOptions {
  prUrl?: string;
  /** Where the full Markdown report is: a URL or a path. */
  location?: string;
  /** The model's plans, for the insights this plan added or changed. */
  history?: readonly PlanState[];
  /** Says that the chart follows in the thread as an image. */
  chart?: boolean;
}

export function finalReport(plan: PlanState, opts: FinalReportOptions = {}): SlackMessage {
  const r = buildReport(plan, opts.history ? { history: opts.history } : {});
  const metric = esc(r.metric.name);
  const where = opts.location
    ? /^https?:\/\//.test(opts.location)
      ? `the <${opts.location}|full report>`
      : `the full report, \`${esc(opts.location)}\``
    : opts.prUrl
      ? `the report comment in the <${opts.prUrl}|plan PR>`
      : 'the full report';
  const blocks: Block[] = [header(reportHeader(plan.id))];
  blocks.push(
    section(
      `*Goal:* ${esc(r.goal)} · model *${esc(r.model)}* · metric *${metric}* (${r.metric.goal}) · ${STATUS[r.status]}${r.finishedReason ? ` (${prose(r.finishedReason)})` : ''}`,
    ),
  );

  const o = r.outcome;
  if (o.kind === 'winner') {
    blocks.push(
      section(
        [
          `:trophy: *Winner: ${prose(o.label)}*`,
          `${metric} ${fmtValue(o.baselineMean)} → ${fmtValue(o.candidateMean)}: *${pct(o.relEffect)}* relative improvement, 95% interval [${pct(o.lo)}, ${pct(o.hi)}], ${o.n} paired seeds against the baseline at fidelity ${o.fidelity}.`,
          `To promote it, set ${settings(o.overrides)} in \`${esc(r.baselineConfigFile)}\`.`,
        ].join('\n'),
      ),
    );
  } else {
    blocks.push(section(`*No winner:* ${prose(o.why)}. The null and negative results are kept as insights.`));
  }

  blocks.push(
    ...listSections(
      '*What each phase decided*',
      r.decisions.length > 0
        ? r.decisions.map((d) => `• *${d.step}*: ${prose(d.text)}`)
        : ['No phase finished.'],
      6,
      (n) => `_… and ${n} more decisions: see ${where}._`,
    ),
  );

  if (r.deadEnds.length > 0) {
    blocks.push(
      ...listSections(
        `*Dead ends (${r.deadEnds.length})*`,
        r.deadEnds.map(
          (d) =>
            `• ${prose(d.label)} · ${d.step} at fidelity ${d.fidelity} · *${d.verdict}*${d.relEffect !== undefined ? ` ${pct(d.relEffect)} [${pct(d.lo!)}, ${pct(d.hi!)}], ${d.n} seed${d.n === 1 ? '' : 's'}` : ''}: ${prose(d.reason)}`,
        ),
        3,
        (n) => `_… and ${n} more dead ends: see ${where}._`,
      ),
    );
  }

  const counts = (Object.keys(FAILURE_ACTION) as FailureAction[])
    .filter((k) => r.failureCounts[k] > 0)
    .map((k) => `${r.failureCounts[k]} ${FAILURE_ACTION[k]}`);
  const failures = r.failures.map((f) => {
    const what = f.runbookId ? `runbook \`${esc(f.runbookId)}\`: ${prose(f.note)}` : prose(f.note);
    return `• run \`${esc(f.runId)}\` (${prose(f.label)}, ${f.step}, seed ${f.seed}) attempt ${f.attempt}: ${prose(f.reason)} → ${what}`;
  });
  blocks.push(
    ...(failures.length > 0
      ? listSections(
          `*Failures and what rea did (${failures.length})*\n${counts.join(', ')}.`,
          failures,
          5,
          (n) => `_… and ${n} more failures: see ${where}._`,
        )
      : [section('*Failures and what rea did*\nNo run failed.')]),
  );

  if (r.escalations.length > 0) {
    blocks.push(
      ...listSections(
        `*Escalations (${r.escalations.length})*`,
        r.escalations.map(
          (e) =>
            `• ${esc(e.id)}: ${prose(e.reason)}${e.resolution ? ` (resolved by ${who(e.resolution.by)}: ${esc(e.resolution.action)})` : ' *(open)*'}`,
        ),
        2,
        (n) => `_… and ${n} more escalations: see ${where}._`,
      ),
    );
  }

  const s = r.spend;
  const share = s.approvedGpuHours > 0 ? ` (${Math.round((100 * s.gpuHours) / s.approvedGpuHours)}%)` : '';
  const gain = s.usdPerGain;
  const spend = [
    '*Spend*',
    `${fmtHours(s.gpuHours)} GPU-hours (${usd(s.usd)}) of an approved ${fmtHours(s.approvedGpuHours)} (${usd(s.approvedUsd)})${share}; estimated at ${fmtHours(s.estimateGpuHoursP50)} p50 / ${fmtHours(s.estimateGpuHoursP90)} p90. ${s.runs} runs, ${s.attempts} attempts, ${s.failedAttempts} failed.`,
    spendTable(r),
    gain
      ? `*${usd(gain.usd)} per 0.1% relative improvement of ${metric}* (all dollars spent ÷ the winner's effect in units of 0.1%; ${gain.atLo !== undefined ? `${usd(gain.atHi)} to ${usd(gain.atLo)}` : `at least ${usd(gain.atHi)}`} over its 95% interval).`
      : `No improvement was confirmed, so there is no cost per unit of ${metric} gained.`,
    ...(r.llm
      ? [
          `Research agent: ${r.llm.calls} call${r.llm.calls === 1 ? '' : 's'} (${esc(r.llm.models.join(', '))}), ${r.llm.inputTokens.toLocaleString('en-US')} in / ${r.llm.outputTokens.toLocaleString('en-US')} out tokens, ${r.llm.cacheReadTokens.toLocaleString('en-US')} cached, ${usd(r.llm.usd)}.`,
        ]
      : []),
  ];
  blocks.push(section(spend.join('\n')));

  if (r.insights.length > 0) {
    blocks.push(
      ...listSections(
        `*Insights this plan added or changed (${r.insights.length})*`,
        firstLines(
          r.insights.map(
            (i) =>
              `• *${i.status}* ${prose(i.title)} at fidelity ${i.fidelity}: ${i.nRuns > 0 ? `${pct(i.meanEffect)} [${pct(i.lo)}, ${pct(i.hi)}], ${i.nRuns} run${i.nRuns === 1 ? '' : 's'}, ${i.nPlans} plan${i.nPlans === 1 ? '' : 's'}` : prose(i.reason)} · _${INSIGHT_CHANGE[i.change]}${i.before ? `, was ${i.before.status} ${pct(i.before.meanEffect)}` : ''}_`,
          ),
          INSIGHT_LINES,
          (n) => `_… and ${n} more insights: see ${where} or \`/rea insights\`._`,
        ),
        4,
        (n) => `_… and ${n} more insights: see ${where} or \`/rea insights\`._`,
      ),
    );
  }

  if (r.next.length > 0) {
    blocks.push(
      ...listSections(
        '*Next hypotheses worth a plan*',
        r.next.map((n) => `• *${prose(n.title)}* (${settings(n.overrides)}): ${prose(n.why)}.`),
        3,
        (n) => `_… and ${n} more ideas: see ${where}._`,
      ),
    );
  }

  const links = [
    `Every measurement is in ${where}.`,
    ...(opts.chart && r.chart.length > 0
      ? [`:chart_with_upwards_trend: The chart of ${metric} by run and phase follows.`]
      : []),
    ...(opts.prUrl && opts.location ? [`:page_facing_up: <${opts.prUrl}|Plan PR>`] : []),
  ];
  blocks.push(context([links.join(' · ')]));

  const summary =
    o.kind === 'winner'
      ? `Plan ${plan.id} finished: ${o.label} improves ${r.metric.name} by ${pct(o.relEffect)} [${pct(o.lo)}, ${pct(o.hi)}]`
      : `Plan ${plan.id} finished without a winner`;
  return message(prose(summary), blocks);
}
