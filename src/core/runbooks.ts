import type { Knob, KnobValue, KnobValues } from './contract.ts';
import { assertNever, checkKnobValue, fmtValue, scaleKnob } from './knobs.ts';
import type { FailureConclusion, OverrideOp, Runbook, RunbookAction } from './model.ts';

// Runbook matching and the decision a matched runbook leads to (DESIGN section 8). Pure: the runbooks,
// the failure and the plan's numbers come in as arguments.
//
// Matching rule. A runbook lists up to three criteria: `conclusions`, `log` patterns and
// `metricNonFinite: true`. It matches a failure when ANY criterion it lists matches:
//   - conclusions: the failure's conclusion is in the list;
//   - log: a pattern (case-insensitive, tried line by line, so ^ and $ anchor to a line) matches a line of
//     the log excerpt or of the failure reason;
//   - metricNonFinite: the primary metric came out NaN or infinite.
// "Any" rather than "all" because each built-in names alternative signs of one failure: a lost runner is
// known by its conclusion *or* by the messages GitHub writes when a runner goes away; a divergence by a NaN
// loss in the log *or* by a NaN metric. The consequence: adding a conclusion to a log-based runbook
// widens it (a `conclusions: [failure]` would catch every plain failure), so log-based runbooks name no
// conclusion. A runbook that lists no criterion matches nothing (the loader rejects it).
// One exception: a cancelled attempt is matched only by a runbook that names `cancelled` explicitly.
// People cancel on purpose, and a pattern in the log of a run somebody stopped says nothing about why it
// stopped.
// Among matching runbooks the lowest `priority` wins; ties go to the smaller id, so the choice never
// depends on the order files were read in.

export interface FailureInfo {
  conclusion: FailureConclusion;
  reason: string;
  logExcerpt: string;
  /** The primary metric came out NaN or infinite (not: was missing). */
  metricNonFinite: boolean;
}

/** Why a runbook matched, for people (`rea runbooks test`) and for the escalation text. */
export type MatchReason =
  | { kind: 'conclusion'; conclusion: FailureConclusion }
  | {
      kind: 'log';
      pattern: string;
      /** Where the pattern matched: the log excerpt or the failure reason. */
      in: 'log' | 'reason';
      line: string;
      /** 0-based index of the line inside the log excerpt (or the reason). */
      lineIndex: number;
    }
  | { kind: 'metric_non_finite' };

export interface RunbookMatch {
  runbook: Runbook;
  reasons: MatchReason[];
}

/** The runbook that handles this failure, or undefined when none matches (the failure is escalated). */
export function matchRunbook(runbooks: Runbook[], failure: FailureInfo): Runbook | undefined {
  return findRunbookMatch(runbooks, failure)?.runbook;
}

/** Like matchRunbook, with the reasons the winning runbook matched. */
export function findRunbookMatch(runbooks: Runbook[], failure: FailureInfo): RunbookMatch | undefined {
  const ordered = [...runbooks].sort(
    (a, b) => a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const logLines = failure.logExcerpt.split(/\r?\n/);
  const reasonLines = failure.reason.split(/\r?\n/);
  for (const runbook of ordered) {
    const reasons = explainMatch(runbook, failure, logLines, reasonLines);
    if (reasons.length > 0) return { runbook, reasons };
  }
  return undefined;
}

/** Every criterion of one runbook that matches the failure; empty when the runbook does not match. */
export function explainMatch(
  runbook: Runbook,
  failure: FailureInfo,
  logLines: string[] = failure.logExcerpt.split(/\r?\n/),
  reasonLines: string[] = failure.reason.split(/\r?\n/),
): MatchReason[] {
  const { conclusions, log, metricNonFinite } = runbook.match;
  if (failure.conclusion === 'cancelled' && !conclusions?.includes('cancelled')) return [];
  const reasons: MatchReason[] = [];
  if (conclusions?.includes(failure.conclusion)) {
    reasons.push({ kind: 'conclusion', conclusion: failure.conclusion });
  }
  for (const pattern of log ?? []) {
    const re = compilePattern(pattern);
    if (!re) continue;
    // The reason first: it is the runner's own summary; then the log, last matching line first because the
    // error that ended a job is near the end of its log.
    const inReason = lastMatchingLine(re, reasonLines);
    if (inReason) {
      reasons.push({ kind: 'log', pattern, in: 'reason', ...inReason });
      continue;
    }
    const inLog = lastMatchingLine(re, logLines);
    if (inLog) reasons.push({ kind: 'log', pattern, in: 'log', ...inLog });
  }
  if (metricNonFinite === true && failure.metricNonFinite) reasons.push({ kind: 'metric_non_finite' });
  return reasons;
}

/**
 * Compiles a runbook log pattern the way matching uses it (case-insensitive). Returns the error message
 * for a pattern that does not compile, so the loader can report it; matching skips such a pattern.
 */
export function checkPattern(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'i');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function compilePattern(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, 'i');
  } catch {
    return undefined;
  }
}

function lastMatchingLine(re: RegExp, lines: string[]): { line: string; lineIndex: number } | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (re.test(line)) return { line, lineIndex: i };
  }
  return undefined;
}

// The runner's wording for a non-finite primary metric lives here so that every runner writes it the same
// way and failureInfo() can recognise it without a structured field in the report.
const NON_FINITE_REASON = /primary metric '[^']*' is (NaN|not finite)/;

/** The failure reason a runner gives when the primary metric came out NaN or infinite. */
export function nonFiniteMetricReason(metric: string, value: number | null | string): string {
  if (value === null) return `primary metric '${metric}' is NaN (written as null)`;
  if (typeof value === 'number' && Number.isNaN(value)) return `primary metric '${metric}' is NaN`;
  if (typeof value === 'string' && /^nan$/i.test(value)) return `primary metric '${metric}' is NaN`;
  return `primary metric '${metric}' is not finite (${String(value)})`;
}

/** Builds the matching input from what a runner reported. */
export function failureInfo(f: {
  conclusion: FailureConclusion;
  reason: string;
  logExcerpt: string;
}): FailureInfo {
  return {
    conclusion: f.conclusion,
    reason: f.reason,
    logExcerpt: f.logExcerpt,
    metricNonFinite: f.conclusion === 'metrics_invalid' && NON_FINITE_REASON.test(f.reason),
  };
}

export type RunbookDecision =
  | { type: 'retry'; overrides: KnobValues; note: string }
  | { type: 'skip'; note: string }
  | { type: 'reduce_concurrency'; to: number; overrides: KnobValues; note: string }
  | { type: 'escalate'; note: string };

export interface DecideRunbookArgs {
  runbook: Runbook | undefined;
  /** Attempts of this run made so far, counting the one that just failed. */
  attemptsSoFar: number;
  /** The run's own cap on attempts (Run.maxAttempts); the smaller of it and the runbook's applies. */
  maxAttemptsCap: number;
  knobs: Record<string, Knob>;
  /** The failed attempt's effective overrides. */
  overrides: KnobValues;
  baseline: KnobValues;
  /** The plan's current concurrency cap. */
  concurrencyCap: number;
}

/**
 * What to do about a failed attempt. Actions that never retry (`skip`, `pause_and_escalate`) apply at
 * once, whatever the attempt count; retrying actions apply while attempts remain and fall back to the
 * runbook's `onExhausted` when they do not, or when there is nothing left to change.
 */
export function decideRunbookAction(args: DecideRunbookArgs): RunbookDecision {
  const { runbook } = args;
  if (!runbook) {
    return {
      type: 'escalate',
      note: 'No runbook matches this failure: pausing the plan and asking a person.',
    };
  }
  const title = runbook.title;
  const action = runbook.action;
  switch (action.type) {
    case 'skip':
      return {
        type: 'skip',
        note: `${title}: skipping this configuration as infeasible (retrying it would fail the same way).`,
      };
    case 'pause_and_escalate':
      return {
        type: 'escalate',
        note: `${title}: rea cannot fix this by itself; pausing the plan and asking a person.`,
      };
    case 'retry':
    case 'retry_with_overrides':
    case 'reduce_concurrency':
      break;
    default:
      return assertNever(action);
  }

  const limit = Math.max(1, Math.min(runbook.maxAttempts, args.maxAttemptsCap));
  if (args.attemptsSoFar >= limit) {
    return exhausted(
      runbook,
      `gave up after ${plural(args.attemptsSoFar, 'attempt')} (the limit is ${limit})`,
    );
  }
  const next = `attempt ${args.attemptsSoFar + 1} of ${limit}`;

  switch (action.type) {
    case 'retry':
      return {
        type: 'retry',
        overrides: { ...args.overrides },
        note: `${title}: retrying unchanged (${next}).`,
      };
    case 'retry_with_overrides': {
      const applied = applyOverrideOps(action.overrides, args);
      if (applied.changes.length === 0) {
        return exhausted(runbook, `${applied.blockers.join('; ')}, so there is nothing left to change`);
      }
      const parts = applied.changes.map((c) => `${c.knob} ${fmtValue(c.from)} -> ${fmtValue(c.to)}`);
      return {
        type: 'retry',
        overrides: applied.overrides,
        note: `${title}: retrying with ${parts.join(', ')} (${next}).`,
      };
    }
    case 'reduce_concurrency': {
      const cap = Math.max(1, Math.floor(args.concurrencyCap));
      // Never raise the cap: a runbook's `to` is a ceiling for a struggling fleet, not a target.
      const to = Math.max(1, Math.min(cap, Math.floor(action.to ?? cap / 2)));
      const how =
        to < cap ? `lowering concurrency from ${cap} to ${to} runs` : `keeping concurrency at ${cap}`;
      return {
        type: 'reduce_concurrency',
        to,
        overrides: { ...args.overrides },
        note: `${title}: ${how} and retrying (${next}).`,
      };
    }
    default:
      return assertNever(action);
  }
}

interface AppliedOps {
  overrides: KnobValues;
  changes: Array<{ knob: string; from: KnobValue; to: KnobValue }>;
  /** Why an op changed nothing, one phrase each. */
  blockers: string[];
}

function applyOverrideOps(ops: Record<string, OverrideOp>, args: DecideRunbookArgs): AppliedOps {
  const overrides: KnobValues = { ...args.overrides };
  const changes: AppliedOps['changes'] = [];
  const blockers: string[] = [];
  for (const [name, op] of Object.entries(ops)) {
    const knob = args.knobs[name];
    if (!knob) {
      blockers.push(`${name} is not a knob of this model`);
      continue;
    }
    const current = args.overrides[name] ?? args.baseline[name];
    if (current === undefined) {
      blockers.push(`${name} has no baseline value`);
      continue;
    }
    const next = applyOp(knob, current, op);
    if (!next.ok) {
      blockers.push(`${name} ${next.why}`);
      continue;
    }
    overrides[name] = next.value;
    changes.push({ knob: name, from: current, to: next.value });
  }
  return { overrides, changes, blockers };
}

function applyOp(
  knob: Knob,
  current: KnobValue,
  op: OverrideOp,
): { ok: true; value: KnobValue } | { ok: false; why: string } {
  if ('scale' in op) {
    const next = scaleKnob(knob, current, op.scale);
    if (next !== undefined) return { ok: true, value: next };
    if (typeof current !== 'number' || knob.type === 'bool') return { ok: false, why: 'is not numeric' };
    const edge = op.scale < 1 ? 'smallest' : 'largest';
    const what = knob.type === 'choice' ? 'choice' : 'allowed value';
    return { ok: false, why: `is already at its ${edge} ${what} (${fmtValue(current)})` };
  }
  const problem = checkKnobValue(knob, op.set);
  if (problem) return { ok: false, why: `cannot be set: ${problem}` };
  if (op.set === current) return { ok: false, why: `is already ${fmtValue(current)}` };
  return { ok: true, value: op.set };
}

function exhausted(runbook: Runbook, why: string): RunbookDecision {
  const title = runbook.title;
  switch (runbook.onExhausted) {
    case 'skip':
      return { type: 'skip', note: `${title}: ${why}; skipping this configuration as infeasible.` };
    case 'pause_and_escalate':
      return { type: 'escalate', note: `${title}: ${why}; pausing the plan and asking a person.` };
    default:
      return assertNever(runbook.onExhausted);
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A runbook's action in words, without a model at hand (`rea runbooks list`, `rea runbooks test`). */
export function describeRunbookAction(runbook: Runbook): string {
  const then =
    runbook.onExhausted === 'skip' ? 'skip the configuration as infeasible' : 'pause and ask a person';
  const upTo = `up to ${plural(runbook.maxAttempts, 'attempt')} in all`;
  return `${describeAction(runbook.action)}${isRetrying(runbook.action) ? `, ${upTo}; then ${then}` : ''}`;
}

function isRetrying(action: RunbookAction): boolean {
  return (
    action.type === 'retry' || action.type === 'retry_with_overrides' || action.type === 'reduce_concurrency'
  );
}

function describeAction(action: RunbookAction): string {
  switch (action.type) {
    case 'retry':
      return 'retry unchanged';
    case 'retry_with_overrides': {
      const ops = Object.entries(action.overrides).map(([name, op]) =>
        'scale' in op ? `${name} x${op.scale}` : `${name} = ${fmtValue(op.set)}`,
      );
      return `retry with ${ops.join(', ')}`;
    }
    case 'skip':
      return 'skip the configuration as infeasible';
    case 'reduce_concurrency':
      return action.to === undefined
        ? 'halve the number of concurrent runs and retry'
        : `lower the number of concurrent runs to ${action.to} and retry`;
    case 'pause_and_escalate':
      return 'pause the plan and ask a person';
    default:
      return assertNever(action);
  }
}
