import { describe, expect, it } from 'vitest';
import { GITHUB_COMMENT_LIMIT, renderReportComment, reportMarker } from '../../src/adapters/github/render.ts';
import { MERMAID_MAX_POINTS, renderReport, reportMermaid } from '../../src/app/render.ts';
import { computeInsights } from '../../src/core/insights.ts';
import type { PlanState } from '../../src/core/model.ts';
import { buildReport, GAIN_UNIT, nextHypotheses, planInsights } from '../../src/core/report.ts';
import { finishedPlan, hugePlan, proposedPlan } from '../adapters/slack/plans.ts';

// The plan report as data (core/report.ts) and as the GitHub comment: hand-checked numbers on the scripted
// plan, the insights a second plan changes, the Mermaid chart's syntax, and GitHub's comment limit.

/** What GitHub needs of an xychart: quoted labels without quotes inside, as many values as labels. */
function checkMermaid(block: string): { labels: string[]; bars: number[]; line?: number[] } {
  const lines = block.split('\n');
  expect(lines[0]).toBe('```mermaid');
  expect(lines[1]).toBe('xychart-beta');
  expect(lines).toContain('```');
  const title = lines.find((l) => l.startsWith('  title '))!;
  expect(title).toMatch(/^ {2}title "[^"]+"$/);
  const xAxis = lines.find((l) => l.startsWith('  x-axis '))!;
  const inner = xAxis.match(/^ {2}x-axis \[(.*)\]$/)![1]!;
  const labels = inner.split(', ').map((l) => {
    expect(l).toMatch(/^"[A-Za-z0-9 _.+\-/%()]+"$/);
    return l.slice(1, -1);
  });
  const yAxis = lines.find((l) => l.startsWith('  y-axis '))!;
  const [, lo, hi] = yAxis.match(/^ {2}y-axis "[^"]+" (-?[\d.e+-]+) --> (-?[\d.e+-]+)$/)!;
  const nums = (prefix: string) => {
    const l = lines.find((x) => x.startsWith(prefix));
    return l
      ? l
          .match(/\[(.*)\]/)![1]!
          .split(', ')
          .map(Number)
      : undefined;
  };
  const bars = nums('  bar ')!;
  const line = nums('  line ');
  expect(bars).toHaveLength(labels.length);
  if (line) expect(line).toHaveLength(labels.length);
  for (const v of [...bars, ...(line ?? [])]) {
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThanOrEqual(Number(lo));
    expect(v).toBeLessThanOrEqual(Number(hi));
  }
  return { labels, bars, ...(line ? { line } : {}) };
}

describe('buildReport', () => {
  it('states the winner, the spend and the dollars per 0.1% gained, checked by hand', async () => {
    const plan = await finishedPlan();
    const r = buildReport(plan);
    expect(r.outcome).toMatchObject({ kind: 'winner', n: 3, fidelity: 1 });
    const w = plan.winner!;
    // Spend is the sum of every attempt's GPU-hours at the plan's price.
    const hours = plan.runs.flatMap((x) => x.attempts).reduce((s, a) => s + (a.gpuHours ?? 0), 0);
    expect(r.spend.gpuHours).toBeCloseTo(hours, 9);
    expect(r.spend.usd).toBeCloseTo(hours * 2.5, 9);
    expect(r.spend.phases.reduce((s, p) => s + p.gpuHours, 0)).toBeCloseTo(hours, 9);
    // $ per 0.1% relative improvement: all dollars over the effect counted in units of 0.1%.
    expect(GAIN_UNIT).toBe(0.001);
    expect(r.spend.usdPerGain!.usd).toBeCloseTo((hours * 2.5) / (w.relEffect / 0.001), 9);
    expect(r.spend.usdPerGain!.atHi).toBeLessThan(r.spend.usdPerGain!.usd);
    expect(r.spend.usdPerGain!.atLo).toBeGreaterThan(r.spend.usdPerGain!.usd);
    expect(r.llm).toBeUndefined();
  });

  it('lists dead ends with their numbers and what rea did about each failure', async () => {
    const r = buildReport(await finishedPlan());
    expect(r.deadEnds).toContainEqual(
      expect.objectContaining({ label: 'learning_rate 0.03 -> 0.9', verdict: 'infeasible', n: 0 }),
    );
    expect(r.deadEnds.every((d) => ['fail', 'veto', 'infeasible'].includes(d.verdict))).toBe(true);
    // The two hypotheses that fail in the scripted world come first, in run order; search failures follow.
    expect(r.failures.slice(0, 2).map((f) => [f.runId, f.runbookId, f.action])).toEqual([
      ['r7', 'gpu-oom', 'retried with changes'],
      ['r8', 'loss-divergence', 'skipped'],
    ]);
    const count = (a: string) => r.failures.filter((f) => f.action === a).length;
    expect(r.failureCounts).toMatchObject({
      'retried with changes': count('retried with changes'),
      skipped: count('skipped'),
      escalated: 0,
    });
  });

  it('explains a plan without a winner and has no cost per gain', async () => {
    const plan = await finishedPlan();
    const none: PlanState = {
      ...plan,
      winner: undefined,
      finishedReason: 'the best combination was not confirmed at full fidelity',
    } as PlanState;
    delete none.winner;
    const r = buildReport(none);
    expect(r.outcome.kind).toBe('none');
    expect(r.outcome.kind === 'none' && r.outcome.why).toMatch(
      /^the best combination was not confirmed at full fidelity; the best candidate measured \+5\.00% \[/,
    );
    expect(r.spend.usdPerGain).toBeUndefined();
    expect(renderReport(none)).toContain(
      'No improvement was confirmed, so there is no cost per unit of ne gained.',
    );
    // Without a winner, passes never confirmed at full fidelity are worth a plan.
    expect(nextHypotheses(none).some((n) => n.kind === 'recheck')).toBe(true);
  });

  it('adds up the research agent usage when the plan recorded it', async () => {
    const plan: PlanState = {
      ...(await finishedPlan()),
      llmUsage: [
        {
          agent: 'claude',
          model: 'claude-sonnet-4',
          inputTokens: 12000,
          outputTokens: 3000,
          cacheReadTokens: 9000,
          cacheWriteTokens: 2000,
          usd: 0.081,
        },
        {
          agent: 'claude',
          model: 'claude-sonnet-4',
          inputTokens: 1000,
          outputTokens: 500,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          usd: 0.011,
        },
      ],
    };
    expect(buildReport(plan).llm).toEqual({
      calls: 2,
      inputTokens: 13000,
      outputTokens: 3500,
      cacheReadTokens: 9000,
      cacheWriteTokens: 2000,
      usd: 0.092,
      models: ['claude-sonnet-4'],
    });
    expect(renderReport(plan)).toContain(
      'Research agent: 2 calls to claude-sonnet-4, 13,000 input and 3,500 output tokens (9,000 read from and 2,000 written to the prompt cache), $0.092.',
    );
  });
});

describe('insights this plan added or changed', () => {
  it('are all new for the first plan of a model', async () => {
    const plan = await finishedPlan();
    const rows = planInsights(plan, [plan]);
    // Every insight the plan's runs produced is listed, each as new.
    expect(rows.length).toBe(computeInsights([plan], plan.updatedAt).length);
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((r) => r.change === 'new' && r.nPlans === 1 && r.before === undefined)).toBe(true);
  });

  it('show the status a second plan changed and the intervals it narrowed', async () => {
    const first = await finishedPlan('ctr-ranker-000001', 10_001);
    const second = await finishedPlan();
    const rows = planInsights(second, [first, second]);
    const lr = rows.find((r) => r.title === 'learning_rate 0.03 -> 0.09' && r.fidelity === 0.1)!;
    // One run each was a null ([-0.57%, +1.57%]); the same +0.50% twice, pooled, excludes zero.
    expect(lr).toMatchObject({
      change: 'changed',
      status: 'win',
      nRuns: 2,
      nPlans: 2,
      before: { status: 'null', nRuns: 1 },
    });
    expect(lr.hi - lr.lo).toBeLessThan(lr.before!.hi - lr.before!.lo);
    expect(rows[0]!.change).toBe('changed');
    // What only the second plan's probes and search measured is new; what both measured is not.
    const firstKeys = new Set(planInsights(first, [first]).map((r) => `${r.changeKey}@${r.fidelity}`));
    for (const r of rows) expect(r.change === 'new').toBe(!firstKeys.has(`${r.changeKey}@${r.fidelity}`));
    // Plans of other models do not count.
    const other = { ...first, id: 'other-1', spec: { ...first.spec, model: 'other' } };
    expect(planInsights(second, [other, second]).every((r) => r.change === 'new')).toBe(true);
  });
});

describe('next hypotheses', () => {
  it('retry the infeasible proposal and try untried values, not what refinement already stacked', async () => {
    const plan = await finishedPlan();
    const next = nextHypotheses(plan);
    expect(plan.winner?.overrides).toMatchObject({ feature_crosses: true, optimizer: 'adagrad' });
    expect(next.map((n) => [n.kind, n.overrides])).toContainEqual(['retry-infeasible', { batch_size: 4096 }]);
    // Never the winner itself; a near miss is re-checked only when the plan measured it as one.
    const key = (o: object) => JSON.stringify(Object.entries(o).sort());
    expect(next.some((n) => key(n.overrides) === key(plan.winner!.overrides))).toBe(false);
    const near = new Set(
      plan.verdicts
        .filter((v) => v.verdict === 'near')
        .map((v) => key(plan.candidates.find((c) => c.id === v.candidateId)!.overrides)),
    );
    for (const n of next.filter((x) => x.kind === 'near-miss')) expect(near.has(key(n.overrides))).toBe(true);
  });
});

describe('the chart in Markdown', () => {
  it('is a valid xychart with one bar per run and the baseline as a line', async () => {
    const plan = await finishedPlan();
    const r = buildReport(plan);
    const chart = checkMermaid(reportMermaid(r)!.split('\n\n')[0]!);
    const ok = plan.runs.filter((x) => x.status === 'succeeded');
    expect(ok.length).toBeLessThanOrEqual(MERMAID_MAX_POINTS);
    expect(chart.labels).toHaveLength(ok.length);
    expect(chart.labels[0]).toBe('val base r1');
    expect(chart.labels.at(-1)).toBe(`expl ${ok.at(-1)!.id}`);
    expect(chart.line).toHaveLength(ok.length);
  });

  it('groups runs by configuration and keeps the best when there are thousands', async () => {
    const huge = await hugePlan();
    // The huge plan copies one run 5,000 times; give its runs the candidates their settings stand for.
    huge.runs = huge.runs.map((run, i) => ({
      ...run,
      candidateId: run.role === 'baseline' ? 'c0' : `c${(i % 200) + 1}`,
    }));
    const r = buildReport(huge);
    const chart = checkMermaid(reportMermaid(r)!.split('\n\n')[0]!);
    expect(chart.labels.length).toBeLessThanOrEqual(MERMAID_MAX_POINTS);
    expect(reportMermaid(r)).toMatch(/the \d+ best of \d+ are shown \(\d+ runs\)/);
  });

  it('is left out when fewer than two runs produced the metric', () => {
    expect(reportMermaid(buildReport(proposedPlan()))).toBeUndefined();
  });
});

describe('the GitHub report comment', () => {
  it('matches the golden file', async () => {
    const plan = await finishedPlan();
    const body = renderReportComment(plan, { history: [plan] });
    expect(body.startsWith(`${reportMarker(plan.id)}\n# Report: plan ${plan.id}`)).toBe(true);
    expect(body).toBe(`${reportMarker(plan.id)}\n${renderReport(plan)}`);
    await expect(body).toMatchFileSnapshot('__golden__/report-comment.md');
  });

  it("fits GitHub's limit for 200 hypotheses and 5,000 runs, saying what it left out; the file keeps all", async () => {
    const plan = await hugePlan();
    const full = renderReport(plan, { history: [plan] });
    expect(full.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT);
    expect(full).not.toContain('more failed attempts');
    const body = renderReportComment(plan, { history: [plan], fullReportAt: 'reports/x.md' });
    expect(body.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(body).toMatch(/… and \d+ more failed attempts in the full report \(reports\/x\.md\)/);
    for (const section of [
      '## Result',
      '## Spend',
      '## Insights this plan added or changed',
      '## Next hypotheses worth a plan',
    ])
      expect(body).toContain(section);
    // Code fences stay balanced, so the Mermaid block still renders.
    expect((body.match(/```/g) ?? []).length % 2).toBe(0);
  });
});
