import { applyPatch, parsePatch, type StructuredPatch } from 'diff';
import { minimatch } from 'minimatch';
import { z } from 'zod';
import type { Knob, KnobValue, KnobValues } from './contract.ts';
import type { Draft } from './hypotheses.ts';
import { checkKnobValues, overridesKey } from './knobs.ts';
import type { InsightRow, RejectedHypothesis } from './model.ts';

// What a research agent (an LLM) answers is data from outside: every hypothesis is checked here before it
// can reach a plan. Config hypotheses must stay inside the knob space; code hypotheses must be unified
// diffs that touch only `editable` files and apply cleanly to the code the agent was shown. Nothing here
// (or anywhere) executes what the model wrote.

/** Relative improvement an LLM may claim at most; larger claims are kept but capped (they are unmeasured). */
export const MAX_CLAIMED_EFFECT = 0.2;

const knobValue = z.union([z.string(), z.number(), z.boolean()]);

/** One hypothesis as the agent must write it (also the JSON schema sent as the structured-output format). */
export const llmHypothesisSchema = z.strictObject({
  title: z.string().min(1).max(160).describe('short name of the change, e.g. "warmup 500 steps + lr x2"'),
  rationale: z.string().min(1).describe('why this should improve the primary metric here'),
  expected_effect: z
    .number()
    .min(-1)
    .max(1)
    .describe('expected relative improvement of the primary metric, 0.01 = 1% better'),
  risk: z
    .enum(['low', 'medium', 'high'])
    .describe('chance that it diverges, breaks a guardrail or wastes runs'),
  evidence: z.array(z.string()).describe('the insights, code lines or config values this is based on'),
  kind: z.enum(['config', 'code']).describe("'config' changes knob values only; 'code' also applies patch"),
  overrides: z
    .array(z.strictObject({ knob: z.string().min(1), value: knobValue }))
    .describe('knob values to change (must be declared knobs, inside their ranges)'),
  patch: z
    .string()
    .nullable()
    .describe('for kind code: a unified diff (---/+++ a/ b/ paths) against the editable files; else null'),
});

export const llmOutputSchema = z.strictObject({ hypotheses: z.array(llmHypothesisSchema).max(20) });

export type LlmHypothesis = z.infer<typeof llmHypothesisSchema>;

/** A typed failure: the whole answer is unusable (the caller falls back to another source). */
export class MalformedAnswerError extends Error {
  readonly code = 'llm_malformed_answer';
}

export interface ValidationInput {
  /** The answer's text (JSON), as returned by the model. */
  text: string;
  agent: string;
  knobs: Record<string, Knob>;
  baseline: KnobValues;
  editable: readonly string[];
  /** The editable files the agent was shown, by repo-relative path: patches must apply to these. */
  files: Readonly<Record<string, string>>;
}

export interface ValidationResult {
  hypotheses: Draft[];
  rejected: RejectedHypothesis[];
}

/**
 * Tells two proposals of one answer apart by their whole change (knob values and the patch, ignoring diff
 * headers); only for duplicates within an answer: across sources the engine keys by `changeKey` in plan.ts.
 */
export function answerKey(h: Pick<Draft, 'overrides' | 'patch'>): string {
  const patch = h.patch ? `|patch:${normalizePatch(h.patch)}` : '';
  return `${overridesKey(h.overrides)}${patch}`;
}

function normalizePatch(patch: string): string {
  return patch
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((l) => !l.startsWith('index ') && !l.startsWith('diff '))
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();
}

function stripPrefix(name: string | undefined): string | undefined {
  if (name === undefined || name === '/dev/null') return undefined;
  const n = name.split('\t')[0]!.trim();
  return n.startsWith('a/') || n.startsWith('b/') ? n.slice(2) : n;
}

function safePath(p: string): boolean {
  return !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\') && p.length > 0;
}

function isEditable(path: string, editable: readonly string[]): boolean {
  return editable.some((g) => minimatch(path, g, { dot: false }));
}

function issuesText(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'answer'}: ${i.message}`)
    .join('; ');
}

type Checked = { ok: true; patch: string; files: string[] } | { ok: false; reason: string };

/** Checks a unified diff: parseable, only editable and safe paths, applies cleanly to the files shown. */
export function checkPatch(
  patch: string,
  editable: readonly string[],
  files: Readonly<Record<string, string>>,
): Checked {
  let parsed: StructuredPatch[];
  try {
    parsed = parsePatch(patch);
  } catch (err) {
    return { ok: false, reason: `the patch is not a unified diff: ${(err as Error).message}` };
  }
  parsed = parsed.filter((p) => p.hunks.length > 0 || p.oldFileName || p.newFileName);
  if (parsed.length === 0 || parsed.every((p) => p.hunks.length === 0)) {
    return { ok: false, reason: 'the patch is not a unified diff: no hunks found' };
  }
  const touched: string[] = [];
  for (const p of parsed) {
    const oldPath = stripPrefix(p.oldFileName);
    const newPath = stripPrefix(p.newFileName);
    for (const path of [oldPath, newPath]) {
      if (path === undefined) continue;
      if (!safePath(path)) return { ok: false, reason: `the patch touches an unsafe path '${path}'` };
      if (!isEditable(path, editable)) {
        return {
          ok: false,
          reason: `the patch touches ${path}, which is not editable (editable: ${editable.join(', ') || 'nothing'})`,
        };
      }
    }
    const target = newPath ?? oldPath;
    if (target === undefined) return { ok: false, reason: 'the patch names no file' };
    if (oldPath !== undefined && files[oldPath] === undefined) {
      return {
        ok: false,
        reason: `the patch does not apply: ${oldPath} is not among the editable files read`,
      };
    }
    const source = oldPath === undefined ? '' : files[oldPath]!;
    const out = applyPatch(source, p);
    if (out === false) {
      return { ok: false, reason: `the patch does not apply cleanly to ${oldPath ?? target}` };
    }
    if (!touched.includes(target)) touched.push(target);
  }
  return { ok: true, patch: patch.endsWith('\n') ? patch : `${patch}\n`, files: touched };
}

/**
 * Validates a research agent's answer. A whole answer that is not JSON or not `{hypotheses: [...]}` throws
 * MalformedAnswerError; each hypothesis that fails a check becomes a RejectedHypothesis with its reason.
 */
export function validateLlmAnswer(input: ValidationInput): ValidationResult {
  let json: unknown;
  try {
    json = JSON.parse(input.text);
  } catch (err) {
    throw new MalformedAnswerError(`the answer is not JSON: ${(err as Error).message}`);
  }
  const outer = z.object({ hypotheses: z.array(z.unknown()) }).safeParse(json);
  if (!outer.success) {
    throw new MalformedAnswerError(`the answer does not match the schema: ${issuesText(outer.error)}`);
  }
  const hypotheses: Draft[] = [];
  const rejected: RejectedHypothesis[] = [];
  const seen = new Map<string, string>();
  outer.data.hypotheses.forEach((item, i) => {
    const rawTitle = (item as { title?: unknown } | null)?.title;
    const fallbackTitle =
      typeof rawTitle === 'string' && rawTitle.trim() ? rawTitle.slice(0, 160) : `hypothesis #${i + 1}`;
    const reject = (reason: string, overrides: KnobValues = {}, title = fallbackTitle) =>
      rejected.push({ title, source: 'research', agent: input.agent, overrides, reason });
    const parsed = llmHypothesisSchema.safeParse(item);
    if (!parsed.success) {
      reject(`malformed: ${issuesText(parsed.error)}`);
      return;
    }
    const h = parsed.data;
    const overrides: KnobValues = {};
    for (const o of h.overrides) {
      if (o.knob in overrides) {
        reject(`malformed: knob '${o.knob}' is set twice`, overrides, h.title);
        return;
      }
      overrides[o.knob] = o.value as KnobValue;
    }
    const problems = checkKnobValues(input.knobs, overrides);
    if (problems.length > 0) {
      reject(`outside the knob space: ${problems.join('; ')}`, overrides, h.title);
      return;
    }
    let patch: string | undefined;
    let files: string[] | undefined;
    if (h.kind === 'config') {
      if (h.patch !== null && h.patch.trim() !== '') {
        reject('malformed: a config hypothesis must not carry a patch', overrides, h.title);
        return;
      }
      if (h.overrides.length === 0) {
        reject('malformed: a config hypothesis needs at least one knob override', overrides, h.title);
        return;
      }
    } else {
      if (h.patch === null || h.patch.trim() === '') {
        reject('malformed: a code hypothesis needs a patch', overrides, h.title);
        return;
      }
      const checked = checkPatch(h.patch, input.editable, input.files);
      if (!checked.ok) {
        reject(checked.reason, overrides, h.title);
        return;
      }
      patch = checked.patch;
      files = checked.files;
    }
    const draft: Draft = {
      title: h.title,
      rationale: h.rationale,
      source: 'research',
      agent: input.agent,
      kind: h.kind,
      overrides,
      ...(patch !== undefined ? { patch, files } : {}),
      expectedEffect: Math.min(h.expected_effect, MAX_CLAIMED_EFFECT),
      risk: h.risk,
      evidence: h.evidence.slice(0, 10),
    };
    const key = answerKey(draft);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      reject(`duplicate of '${earlier}' in the same answer`, overrides, h.title);
      return;
    }
    seen.set(key, h.title);
    hypotheses.push(draft);
  });
  return { hypotheses, rejected };
}

function signedPct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
}

/**
 * A compact summary of what earlier plans measured, for an agent's context: the best wins, the worst
 * losses and what failed to run, each with its 95% interval, fidelity and number of runs.
 */
export function insightsSummary(model: string, rows: readonly InsightRow[], perKind = 8): string {
  if (rows.length === 0)
    return 'No earlier experiments are recorded for this model or models sharing its tags.';
  const line = (r: InsightRow) =>
    `- ${r.changeKey}${r.model !== model ? ` (on ${r.model})` : ''}: ${signedPct(r.meanEffect)} [${signedPct(r.lo)}, ${signedPct(r.hi)}] at fidelity ${r.fidelity}, ${r.nRuns} runs${r.reason ? `; ${r.reason}` : ''}`;
  const by = (status: InsightRow['status']) => rows.filter((r) => r.status === status);
  const sections: Array<[string, InsightRow[]]> = [
    ['Wins (positive is better)', by('win').sort((a, b) => b.meanEffect - a.meanEffect)],
    [
      'Losses (worse than baseline; do not propose again)',
      by('loss').sort((a, b) => a.meanEffect - b.meanEffect),
    ],
    ['Infeasible (failed to run)', by('infeasible')],
    ['No measurable effect', by('null').sort((a, b) => b.nRuns - a.nRuns)],
  ];
  const out: string[] = [];
  for (const [label, list] of sections) {
    if (list.length === 0) continue;
    out.push(`${label}:`, ...list.slice(0, perKind).map(line));
    if (list.length > perKind) out.push(`- ... and ${list.length - perKind} more`);
  }
  return out.join('\n');
}
