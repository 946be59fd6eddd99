import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { FailureConclusion, OverrideOp, Runbook, RunbookAction } from '../core/model.ts';
import { checkPattern } from '../core/runbooks.ts';
import { zodProblems } from './rea-config.ts';

// Runbook files (DESIGN section 8): Markdown with YAML front matter. The front matter is snake_case like
// .rea.yml; the Runbook type is camelCase. Every problem is one line `file: field.path: sentence`, so that
// `rea runbooks list` and start-up can show all of them at once.

/** The built-in runbooks shipped with rea, found relative to this file so it works from any cwd. */
export const BUILTIN_RUNBOOK_DIR = fileURLToPath(new URL('../../runbooks/', import.meta.url));

/** Every conclusion a runbook may match (the CLI offers the same choices). */
export const CONCLUSIONS = [
  'failure',
  'timed_out',
  'cancelled',
  'runner_lost',
  'startup_failure',
  'metrics_invalid',
] as const satisfies readonly FailureConclusion[];

const knobValue = z.union([z.string(), z.number(), z.boolean()]);

const overrideOp = z.union([
  z
    .object({
      scale: z
        .number()
        .positive('must be greater than 0')
        .refine((s) => s !== 1, 'must not be 1 (that changes nothing)'),
    })
    .strict(),
  z.object({ set: knobValue }).strict(),
]);

const overridesSchema = z
  .record(z.string().min(1), overrideOp)
  .refine((o) => Object.keys(o).length > 0, 'must name at least one knob');

const ACTION_NAMES = [
  'retry',
  'retry_with_overrides',
  'skip',
  'reduce_concurrency',
  'pause_and_escalate',
] as const;

const actionObject = z.discriminatedUnion('type', [
  z.object({ type: z.literal('retry') }).strict(),
  z.object({ type: z.literal('retry_with_overrides'), overrides: overridesSchema }).strict(),
  z.object({ type: z.literal('skip') }).strict(),
  z
    .object({
      type: z.literal('reduce_concurrency'),
      to: z.number().int().min(1, 'must be at least 1').optional(),
    })
    .strict(),
  z.object({ type: z.literal('pause_and_escalate') }).strict(),
]);

// `action: retry` is shorthand for `action: { type: retry }`.
const actionSchema = z.preprocess((a) => (typeof a === 'string' ? { type: a } : a), actionObject);

const logPattern = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((p, ctx) => {
    const error = checkPattern(p);
    if (error)
      ctx.addIssue({
        code: 'custom',
        message: `is not a valid regular expression: ${error.replace(/^Invalid regular expression: /, '')}`,
      });
  });

const frontMatterSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lower-case letters, digits, . _ - (e.g. gpu-oom)'),
    title: z.string().min(1, 'must not be empty'),
    priority: z.number().int('must be a whole number'),
    match: z
      .object({
        conclusions: z.array(z.enum(CONCLUSIONS)).min(1, 'must list at least one conclusion').optional(),
        log: z.array(logPattern).min(1, 'must list at least one pattern').optional(),
        metric_non_finite: z.boolean().optional(),
      })
      .strict()
      .refine((m) => m.conclusions !== undefined || m.log !== undefined || m.metric_non_finite === true, {
        message: 'must give at least one of conclusions, log, metric_non_finite: true',
      }),
    action: actionSchema,
    max_attempts: z.number().int('must be a whole number').min(1, 'must be at least 1').default(1),
    on_exhausted: z.enum(['skip', 'pause_and_escalate']).default('pause_and_escalate'),
  })
  .strict();

type FrontMatter = z.infer<typeof frontMatterSchema>;

export type RunbookParseResult = { ok: true; runbook: Runbook } | { ok: false; problems: string[] };

/** Parses one runbook file's text. `source` names the file in problems and in Runbook.source. */
export function parseRunbook(text: string, source: string): RunbookParseResult {
  const split = splitFrontMatter(text);
  if (!split.ok) return { ok: false, problems: [`${source}: ${split.problem}`] };
  const doc = parseDocument(split.frontMatter, { prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map(
        (e) =>
          `${source}: front matter is not valid YAML: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`,
      ),
    };
  }
  const parsed = frontMatterSchema.safeParse(doc.toJS(), { reportInput: true });
  const problems: string[] = [];
  if (!parsed.success) problems.push(...schemaProblems(parsed.error, source));
  const body = split.body.trim();
  if (body === '') {
    problems.push(
      `${source}: body: must explain the failure to people (the Markdown after the front matter is empty)`,
    );
  }
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, runbook: toRunbook(parsed.data, body, source) };
}

function schemaProblems(error: z.ZodError, source: string): string[] {
  const generic = zodProblems(error);
  return error.issues.map((issue, i) => {
    const where = generic[i]?.path === '(root)' ? 'front matter' : (generic[i]?.path ?? 'front matter');
    let message = generic[i]?.message ?? issue.message;
    // zod's wording for a failed union says nothing useful; say what the field accepts instead.
    if (issue.code === 'invalid_union') {
      message =
        issue.path[0] === 'action' && issue.path.length <= 2
          ? `${issue.path.at(-1) === 'type' ? '' : 'type '}must be one of ${ACTION_NAMES.join(', ')}`
          : 'must be { scale: <number> } or { set: <value> }';
    }
    return `${source}: ${where}: ${message}`;
  });
}

function splitFrontMatter(
  text: string,
): { ok: true; frontMatter: string; body: string } | { ok: false; problem: string } {
  const t = text.replace(/^\uFEFF/, '');
  const open = /^---[ \t]*\r?\n/.exec(t);
  if (!open) return { ok: false, problem: 'must start with YAML front matter between two --- lines' };
  const rest = t.slice(open[0].length);
  const close = /^---[ \t]*$/m.exec(rest);
  if (!close) return { ok: false, problem: 'front matter is not closed (no second --- line)' };
  return {
    ok: true,
    frontMatter: rest.slice(0, close.index),
    body: rest.slice(close.index + close[0].length),
  };
}

function toRunbook(fm: FrontMatter, body: string, source: string): Runbook {
  const match: Runbook['match'] = {};
  if (fm.match.conclusions) match.conclusions = [...fm.match.conclusions];
  if (fm.match.log) match.log = [...fm.match.log];
  if (fm.match.metric_non_finite !== undefined) match.metricNonFinite = fm.match.metric_non_finite;
  return {
    id: fm.id,
    title: fm.title,
    priority: fm.priority,
    match,
    action: toAction(fm.action),
    maxAttempts: fm.max_attempts,
    onExhausted: fm.on_exhausted,
    body,
    source,
  };
}

function toAction(a: FrontMatter['action']): RunbookAction {
  if (a.type !== 'retry_with_overrides') return a;
  const overrides: Record<string, OverrideOp> = {};
  for (const [k, op] of Object.entries(a.overrides))
    overrides[k] = 'scale' in op ? { scale: op.scale } : { set: op.set };
  return { type: 'retry_with_overrides', overrides };
}

export interface LoadRunbooksOptions {
  /** Where the built-ins are; defaults to the project's runbooks/. */
  builtinDir?: string;
  /** A model directory whose `.rea/runbooks/*.md` add runbooks and replace built-ins with the same id. */
  modelDir?: string;
}

export interface LoadedRunbooks {
  runbooks: Runbook[];
  /** Every problem found, `file: field.path: sentence`; invalid files are left out of `runbooks`. */
  problems: string[];
}

/** Loads the built-in runbooks, then the model repo's additions and overrides by id. Never throws for bad files. */
export async function loadRunbooks(opts: LoadRunbooksOptions = {}): Promise<LoadedRunbooks> {
  const problems: string[] = [];
  const builtinDir = opts.builtinDir ?? BUILTIN_RUNBOOK_DIR;
  const builtinLabel = opts.builtinDir === undefined ? 'runbooks' : builtinDir;
  const builtins = await loadDir(builtinDir, builtinLabel, { required: true }, problems);

  const byId = new Map<string, Runbook>();
  for (const rb of builtins) byId.set(rb.id, rb);
  if (opts.modelDir !== undefined) {
    const dir = path.join(opts.modelDir, '.rea', 'runbooks');
    const additions = await loadDir(dir, path.join('.rea', 'runbooks'), { required: false }, problems);
    // A model repo's runbook replaces a built-in of the same id wholesale: partial merges would make it
    // hard to tell from the file alone what rea will do.
    for (const rb of additions) byId.set(rb.id, rb);
  }
  const runbooks = [...byId.values()].sort((a, b) => a.priority - b.priority || (a.id < b.id ? -1 : 1));
  return { runbooks, problems };
}

async function loadDir(
  dir: string,
  label: string,
  opts: { required: boolean },
  problems: string[],
): Promise<Runbook[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.md')).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !opts.required) return [];
    problems.push(`${label}: cannot read the runbook directory (${code ?? describeError(err)})`);
    return [];
  }
  const out: Runbook[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const source = path.join(label, name);
    let text: string;
    try {
      text = await readFile(path.join(dir, name), 'utf8');
    } catch (err) {
      problems.push(`${source}: cannot be read (${describeError(err)})`);
      continue;
    }
    const parsed = parseRunbook(text, source);
    if (!parsed.ok) {
      problems.push(...parsed.problems);
      continue;
    }
    const earlier = seen.get(parsed.runbook.id);
    if (earlier) {
      problems.push(`${source}: id: '${parsed.runbook.id}' is already used by ${earlier}`);
      continue;
    }
    seen.set(parsed.runbook.id, source);
    out.push(parsed.runbook);
  }
  return out;
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}
