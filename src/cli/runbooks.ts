import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { LOG_TAIL_LINES, logTailOf } from '../adapters/local/local-process-runner.ts';
import { loadModelDir, type ModelDir } from '../config/load.ts';
import type { KnobValues } from '../config/rea-config.ts';
import { CONCLUSIONS, loadRunbooks } from '../config/runbooks.ts';
import { assertNever } from '../core/knobs.ts';
import type { FailureConclusion, Runbook } from '../core/model.ts';
import {
  decideRunbookAction,
  describeRunbookAction,
  explainMatch,
  type FailureInfo,
  findRunbookMatch,
  type MatchReason,
  type RunbookDecision,
} from '../core/runbooks.ts';

// `rea runbooks list` and `rea runbooks test <log>`: lets a person see which runbook a failure log would
// trigger, and why, before a plan meets it at 3 a.m.

interface TestOptions {
  dir?: string;
  conclusion: FailureConclusion;
  reason?: string;
  metricNonFinite?: boolean;
  overrides?: string;
  json?: boolean;
}

export function registerRunbooks(program: Command): void {
  const runbooks = program
    .command('runbooks')
    .description('list the runbooks and test them against a failure log');

  runbooks
    .command('list')
    .description('list the runbooks rea would use (built-ins plus the model repo’s .rea/runbooks)')
    .option('--dir <dir>', 'model directory whose .rea/runbooks add or replace runbooks', '.')
    .option('--json', 'print JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const loaded = await loadRunbooks({ modelDir: opts.dir });
      if (reportProblems(loaded.problems)) return;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(loaded.runbooks.map(summary), null, 2)}\n`);
        return;
      }
      const lines: string[] = [];
      for (const rb of loaded.runbooks) {
        lines.push(`${String(rb.priority).padStart(3)}  ${rb.id.padEnd(18)} ${rb.title}  (${rb.source})`);
        lines.push(`     matches: ${describeMatch(rb)}`);
        lines.push(`     does:    ${describeRunbookAction(rb)}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  runbooks
    .command('test')
    .description('show which runbook matches a failure log and what rea would do')
    .argument('<logfile>', 'a job log (as written to log.txt or downloaded from a workflow run)')
    .option('--dir <dir>', 'model directory: its .rea/runbooks, knobs and baseline are used (default: .)')
    .addOption(
      new Option('--conclusion <conclusion>', 'how the attempt ended')
        .choices(CONCLUSIONS)
        .default('failure'),
    )
    .option('--reason <text>', 'the failure reason the runner gave (matched like the log)')
    .option('--metric-non-finite', 'the primary metric came out NaN or infinite')
    .option('--overrides <json>', 'knob values of the failed attempt, as JSON (default: the baseline)')
    .option('--json', 'print JSON')
    .action(async (logfile: string, opts: TestOptions) => {
      await runTest(logfile, opts);
    });
}

async function runTest(logfile: string, opts: TestOptions): Promise<void> {
  let text: string;
  try {
    text = await readFile(logfile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(`cannot read ${logfile}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
    return;
  }
  let failedOverrides: KnobValues = {};
  if (opts.overrides !== undefined) {
    const parsed = parseOverrides(opts.overrides);
    if (typeof parsed === 'string') {
      fail(`--overrides ${parsed}`);
      return;
    }
    failedOverrides = parsed;
  }

  const dir = opts.dir ?? '.';
  const loaded = await loadRunbooks({ modelDir: dir });
  if (reportProblems(loaded.problems)) return;
  const model = await loadModel(dir, opts.dir !== undefined);

  // Match what rea would see: the runner keeps only the tail of a log.
  const excerpt = logTailOf(text);
  const totalLines = countLines(text);
  const lineOffset = totalLines - countLines(excerpt);
  const failure: FailureInfo = {
    conclusion: opts.conclusion,
    reason: opts.reason ?? '',
    logExcerpt: excerpt,
    metricNonFinite: opts.metricNonFinite === true,
  };
  const match = findRunbookMatch(loaded.runbooks, failure);
  const alsoMatched = loaded.runbooks
    .filter((rb) => rb !== match?.runbook && explainMatch(rb, failure).length > 0)
    .map((rb) => rb.id);
  const decision = match && model ? decideFirst(match.runbook, model, failedOverrides) : undefined;
  const reasons = (match?.reasons ?? []).map((r) => withLineNumber(r, lineOffset));

  if (opts.json) {
    const out = {
      log: logfile,
      conclusion: opts.conclusion,
      searchedLines: countLines(excerpt),
      totalLines,
      matched: match !== undefined,
      runbook: match ? summary(match.runbook) : null,
      reasons,
      alsoMatched,
      action: match ? describeRunbookAction(match.runbook) : 'pause the plan and ask a person',
      model: model?.config.model ?? null,
      decision: match ? (decision ?? null) : decideRunbookAction(noRunbookArgs()),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }

  const searched =
    lineOffset > 0 ? `; searched the last ${LOG_TAIL_LINES} lines of ${totalLines}, as rea does` : '';
  const lines: string[] = [`log: ${logfile} (conclusion: ${opts.conclusion}${searched})`];
  if (!match) {
    lines.push('no runbook matches this failure.');
    lines.push('rea would pause the plan and escalate to a person, quoting the end of the log.');
    process.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  const rb = match.runbook;
  lines.push(`matched: ${rb.id}: ${rb.title} (priority ${rb.priority}, ${rb.source})`);
  for (const r of reasons) lines.push(...describeReason(r));
  if (alsoMatched.length > 0) lines.push(`also matched, lower priority: ${alsoMatched.join(', ')}`);
  lines.push(`action: ${describeRunbookAction(rb)}`);
  if (decision && model) {
    lines.push(`after a first failed attempt of ${model.config.model}: ${decision.note}`);
  } else {
    lines.push('(run with --dir <model directory> to see the decision for that model’s knobs and baseline)');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

type NumberedReason = MatchReason & { lineNumber?: number };

function withLineNumber(r: MatchReason, lineOffset: number): NumberedReason {
  if (r.kind === 'log' && r.in === 'log') return { ...r, lineNumber: lineOffset + r.lineIndex + 1 };
  return r;
}

function describeReason(r: NumberedReason): string[] {
  switch (r.kind) {
    case 'conclusion':
      return [`  conclusion ${r.conclusion} is listed`];
    case 'log':
      return [
        r.in === 'log'
          ? `  log pattern /${r.pattern}/ matched line ${r.lineNumber ?? r.lineIndex + 1}:`
          : `  log pattern /${r.pattern}/ matched the failure reason:`,
        `    ${r.line.trim()}`,
      ];
    case 'metric_non_finite':
      return ['  the primary metric is NaN or infinite'];
    default:
      return assertNever(r);
  }
}

function decideFirst(runbook: Runbook, model: ModelDir, overrides: KnobValues): RunbookDecision {
  return decideRunbookAction({
    runbook,
    attemptsSoFar: 1,
    maxAttemptsCap: runbook.maxAttempts,
    knobs: model.config.knobs,
    overrides,
    baseline: model.baseline,
    concurrencyCap: model.config.budget.max_concurrent_runs,
  });
}

function noRunbookArgs(): Parameters<typeof decideRunbookAction>[0] {
  return {
    runbook: undefined,
    attemptsSoFar: 1,
    maxAttemptsCap: 1,
    knobs: {},
    overrides: {},
    baseline: {},
    concurrencyCap: 1,
  };
}

/** The model directory when it has a valid .rea.yml; problems are shown only when --dir was given. */
async function loadModel(dir: string, explicit: boolean): Promise<ModelDir | undefined> {
  const loaded = await loadModelDir(dir);
  if (loaded.ok) return loaded.value;
  if (explicit) {
    process.stderr.write(
      `note: ${path.resolve(dir)} has no usable .rea.yml, so the action is described generically:\n`,
    );
    for (const p of loaded.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
  }
  return undefined;
}

function parseOverrides(text: string): KnobValues | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `is not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'must be a JSON object';
  const out: KnobValues = {};
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      return `'${k}' must be a string, number or boolean`;
    }
    out[k] = v;
  }
  return out;
}

function summary(rb: Runbook) {
  return {
    id: rb.id,
    title: rb.title,
    priority: rb.priority,
    source: rb.source,
    match: rb.match,
    action: rb.action,
    maxAttempts: rb.maxAttempts,
    onExhausted: rb.onExhausted,
  };
}

function describeMatch(rb: Runbook): string {
  const parts: string[] = [];
  if (rb.match.conclusions) parts.push(`conclusion ${rb.match.conclusions.join(' or ')}`);
  if (rb.match.log) parts.push(`log ${rb.match.log.map((p) => `/${p}/`).join(', ')}`);
  if (rb.match.metricNonFinite) parts.push('primary metric NaN or infinite');
  return parts.join('; or ');
}

function reportProblems(problems: string[]): boolean {
  if (problems.length === 0) return false;
  process.stderr.write('runbooks are not valid:\n');
  for (const p of problems) process.stderr.write(`  ${p}\n`);
  process.exitCode = 1;
  return true;
}

function fail(message: string): void {
  process.stderr.write(`rea: ${message}\n`);
  process.exitCode = 1;
}

function countLines(text: string): number {
  return text === '' ? 0 : text.replace(/\n$/, '').split('\n').length;
}
