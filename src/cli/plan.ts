import type { Command } from 'commander';
import { researchSources } from '../adapters/llm/research-agents.ts';
import { LocalCodeReader } from '../adapters/local/local-code-reader.ts';
import { requestPlan } from '../app/plan-service.ts';
import { renderPlan } from '../app/render.ts';
import type { PlanState } from '../core/model.ts';
import { loadModelOrExit, openContext, parsePositive } from './context.ts';

// `rea plan`: what a plan for this model would be now (hypotheses, provenance, phases, cost), without
// storing or running it.

export function planJson(plan: PlanState, notes: string[]) {
  return {
    id: plan.id,
    model: plan.spec.model,
    goal: plan.goal,
    hypotheses: plan.hypotheses.map((h) => ({
      id: h.id,
      title: h.title,
      source: h.source,
      agent: h.agent,
      kind: h.kind,
      overrides: h.overrides,
      ...(h.kind === 'code' ? { files: h.files ?? [], patch: h.patch ?? '' } : {}),
      rationale: h.rationale,
      expected_effect: h.expectedEffect,
      risk: h.risk,
      evidence: h.evidence,
    })),
    rejected: plan.rejected.map((r) => ({
      title: r.title,
      source: r.source,
      agent: r.agent,
      reason: r.reason,
    })),
    phases: plan.estimate.phases.map((p) => ({
      name: p.name,
      runs: p.runs,
      fidelity: p.fidelity,
      seeds: p.seeds,
      gpu_hours_p50: p.gpuHoursP50,
      gpu_hours_p90: p.gpuHoursP90,
      usd_p50: p.usdP50,
      usd_p90: p.usdP90,
    })),
    budget_gpu_hours: plan.budget.requestedGpuHours,
    llm_usage: (plan.llmUsage ?? []).map((u) => ({
      agent: u.agent,
      model: u.model,
      input_tokens: u.inputTokens,
      output_tokens: u.outputTokens,
      cache_read_tokens: u.cacheReadTokens,
      cache_write_tokens: u.cacheWriteTokens,
      usd: u.usd,
    })),
    notes,
  };
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('propose an experiment plan for a model directory (nothing is stored or run)')
    .option('--dir <dir>', 'model directory with .rea.yml', '.')
    .option('--goal <text>', 'what the plan should achieve', 'improve the primary metric')
    .option('--budget <gpuHours>', 'the most GPU-hours the plan may use')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dir: string; goal: string; budget?: string; json?: boolean }) => {
      const model = await loadModelOrExit(opts.dir);
      const ctx = await openContext();
      try {
        const { state, notes } = await requestPlan({
          store: ctx.store,
          model,
          goal: opts.goal,
          sources: researchSources(process.env, ctx.log),
          code: new LocalCodeReader(model.dir),
          now: new Date(),
          dryRun: true,
          ...(opts.budget !== undefined ? { maxGpuHours: parsePositive(opts.budget, '--budget') } : {}),
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(planJson(state, notes), null, 2)}\n`);
          return;
        }
        // The notes (a research-agent fallback and its reason) are part of the rendered plan.
        process.stdout.write(`${renderPlan(state)}\n`);
        process.stdout.write(`\nTo approve and run it: rea run --local --dir ${opts.dir}\n`);
      } finally {
        await ctx.close();
      }
    });
}
