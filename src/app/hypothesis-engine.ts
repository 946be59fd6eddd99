import type { ModelDir } from '../config/load.ts';
import { noiseAt } from '../core/analysis.ts';
import { type Draft, mergeHypotheses, proposeFromInsights } from '../core/hypotheses.ts';
import type { LlmUsage, NoisePrior, PlanState, RejectedHypothesis } from '../core/model.ts';
import type { CodeReader, HypothesisSource, InsightRow, Store } from './ports.ts';

// The dual-source engine's I/O half: reads what the database knows, asks every source, merges.

export interface EngineResult {
  hypotheses: Draft[];
  rejected: RejectedHypothesis[];
  notes: string[];
  insights: InsightRow[];
  /** What the sources' LLM calls cost. */
  llmUsage: LlmUsage[];
}

export async function proposeHypotheses(args: {
  store: Store;
  model: ModelDir;
  goal: string;
  sources: HypothesisSource[];
  /** The model's files, for sources that read code (the research agent). */
  code?: CodeReader;
}): Promise<EngineResult> {
  const { config, baseline } = args.model;
  const insights = await args.store.listInsights(config.model, config.tags);
  const fromInsights = proposeFromInsights({
    model: config.model,
    rows: insights,
    knobs: config.knobs,
    baseline,
  });
  const notes: string[] = [];
  const lists: Draft[][] = [fromInsights.hypotheses];
  const rejected: RejectedHypothesis[] = [];
  const llmUsage: LlmUsage[] = [];
  for (const source of args.sources) {
    const p = await source.propose({
      goal: args.goal,
      config,
      baseline,
      insights,
      ...(args.code ? { code: args.code } : {}),
    });
    lists.push(p.hypotheses);
    rejected.push(...p.rejected);
    notes.push(...p.notes);
    llmUsage.push(...(p.usage ?? []));
  }
  if (fromInsights.hypotheses.length > 0) {
    notes.push(
      `${fromInsights.hypotheses.length} hypotheses come from ${insights.length} insights of earlier plans`,
    );
  }
  const merged = mergeHypotheses({
    sources: lists,
    suppressed: fromInsights.suppressed,
    knobs: config.knobs,
    baseline,
    insights: { model: config.model, rows: insights },
  });
  return {
    hypotheses: merged.hypotheses,
    rejected: [...rejected, ...merged.rejected],
    notes,
    insights,
    llmUsage,
  };
}

/** Noise of paired differences per fidelity measured by this model's earlier plans. */
export function noisePriorsFrom(plans: readonly PlanState[]): NoisePrior[] {
  const out: NoisePrior[] = [];
  for (const p of plans) {
    const fidelities = new Set(p.runs.filter((r) => r.role === 'baseline').map((r) => r.fidelity));
    for (const f of fidelities) {
      const n = noiseAt({ ...p, noisePriors: [] }, f);
      if (n) out.push({ fidelity: f, sd: n.sd, df: n.df });
    }
  }
  return out;
}
