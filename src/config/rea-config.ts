import { z } from 'zod';
import type { Knob, ReaConfig } from '../core/contract.ts';

export type { Knob, KnobValue, KnobValues, ReaConfig } from '../core/contract.ts';

// The experiment contract (.rea.yml), DESIGN section 3. Every refinement adds an issue with a path so that
// validation can report every problem at once, each as `path: plain sentence`.

const knobName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must start with a letter or _ and use only letters, digits, _ . -');

// Cross-field checks live on the smallest object that holds both fields, so that they still run (and are
// reported together with everything else) when another part of the file is invalid.
function rangeCheck(k: { min: number; max: number }, ctx: z.core.$RefinementCtx<unknown>): void {
  if (k.max <= k.min) {
    ctx.addIssue({
      code: 'custom',
      path: ['max'],
      message: `must be greater than min (${k.max} <= ${k.min})`,
    });
  }
}

const floatKnob = z
  .object({
    type: z.literal('float'),
    min: z.number(),
    max: z.number(),
    log: z.boolean().default(false),
  })
  .strict()
  .superRefine((k, ctx) => {
    rangeCheck(k, ctx);
    if (k.log && k.min <= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message: `must be greater than 0 on a log scale (got ${k.min})`,
      });
    }
  });

const intKnob = z
  .object({
    type: z.literal('int'),
    min: z.number().int('must be a whole number'),
    max: z.number().int('must be a whole number'),
    step: z.number().int('must be a whole number').positive('must be greater than 0').default(1),
  })
  .strict()
  .superRefine(rangeCheck);

const choiceKnob = z
  .object({
    type: z.literal('choice'),
    values: z.array(z.union([z.string(), z.number()])).min(2, 'must list at least 2 values'),
  })
  .strict()
  .superRefine((k, ctx) => {
    const seen = new Set<string>();
    for (const v of k.values) {
      const key = JSON.stringify(v);
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: ['values'], message: `lists ${key} more than once` });
      seen.add(key);
    }
  });

const boolKnob = z.object({ type: z.literal('bool') }).strict();

export const knobSchema = z.discriminatedUnion('type', [floatKnob, intKnob, choiceKnob, boolKnob]);

const metricName = z.string().min(1, 'must not be empty');

export const reaConfigSchema = z
  .object({
    model: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]*$/i, 'must be a name of letters, digits, . _ - (e.g. ctr-ranker)'),
    tags: z.array(z.string().min(1)).default([]),
    metric: z
      .object({
        name: metricName,
        goal: z.enum(['minimize', 'maximize']),
        min_effect: z.number().positive('must be greater than 0').default(0.001),
      })
      .strict(),
    guardrails: z
      .array(
        z
          .object({ metric: metricName, min: z.number().optional(), max: z.number().optional() })
          .strict()
          .refine((g) => g.min !== undefined || g.max !== undefined, {
            message: 'needs min or max',
          }),
      )
      .default([]),
    baseline: z.object({ config_file: z.string().min(1) }).strict(),
    knobs: z.record(knobName, knobSchema).refine((k) => Object.keys(k).length > 0, {
      message: 'must declare at least one knob',
    }),
    editable: z.array(z.string().min(1)).default([]),
    run: z
      .object({
        command: z.string().min(1, 'must not be empty'),
        workflow: z.string().min(1).default('rea-experiment.yml'),
        runner_labels: z.array(z.string().min(1)).default(['self-hosted', 'gpu']),
        gpus: z.number().int('must be a whole number').positive('must be at least 1').default(1),
        usd_per_gpu_hour: z.number().nonnegative('must not be negative').default(0),
        timeout_minutes: z.number().positive('must be greater than 0').default(720),
        baseline_gpu_hours: z.number().positive('must be greater than 0'),
        overhead_minutes: z.number().nonnegative('must not be negative').optional(),
      })
      .strict()
      .superRefine((run, ctx) => {
        // The overhead is part of a full run's cost, so it cannot be all of it.
        const fullMinutes = (run.baseline_gpu_hours / run.gpus) * 60;
        if (run.overhead_minutes !== undefined && run.overhead_minutes >= fullMinutes) {
          ctx.addIssue({
            code: 'custom',
            path: ['overhead_minutes'],
            message: `must be less than a full run's time (baseline_gpu_hours / gpus = ${Number(fullMinutes.toPrecision(3))} minutes)`,
          });
        }
      }),
    fidelity: z
      .object({
        validation: z.number().gt(0, 'must be in (0, 1]').lte(1, 'must be in (0, 1]').default(0.1),
        combination: z.number().gt(0, 'must be in (0, 1]').lte(1, 'must be in (0, 1]').default(0.3),
        exploitation: z.number().gt(0, 'must be in (0, 1]').lte(1, 'must be in (0, 1]').default(1),
      })
      .strict()
      .superRefine((f, ctx) => {
        if (f.validation > f.combination || f.combination > f.exploitation) {
          ctx.addIssue({
            code: 'custom',
            message: `must not decrease from validation to exploitation (${f.validation}, ${f.combination}, ${f.exploitation})`,
          });
        }
      })
      .default({ validation: 0.1, combination: 0.3, exploitation: 1 }),
    seeds: z
      .object({
        validation: z.number().int().min(1, 'must be at least 1').default(1),
        combination: z.number().int().min(1, 'must be at least 1').default(2),
        exploitation: z.number().int().min(2, 'must be at least 2 to give an interval').default(3),
      })
      .strict()
      .default({ validation: 1, combination: 2, exploitation: 3 }),
    budget: z
      .object({
        max_gpu_hours: z.number().positive('must be greater than 0'),
        max_concurrent_runs: z.number().int().min(1, 'must be at least 1').default(4),
      })
      .strict(),
    approvers: z
      .object({
        github: z.array(z.string().min(1)).default([]),
        slack: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({ github: [], slack: [] }),
    slack: z
      .object({ channel: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

// The schema must produce exactly core's contract types: either side changing alone fails the typecheck here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesCore: Same<z.infer<typeof reaConfigSchema>, ReaConfig> = true;
const knobMatchesCore: Same<z.infer<typeof knobSchema>, Knob> = true;
void schemaMatchesCore;
void knobMatchesCore;

export interface ConfigProblem {
  path: string;
  message: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const received = (issue as { input?: unknown }).input;
      if (received === undefined) return 'is required';
      return `must be ${article(issue.expected)} (got ${describeValue(received)})`;
    }
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      if ((issue as { note?: string }).note === 'No matching discriminator') {
        return 'must be one of "float", "int", "choice", "bool"';
      }
      return issue.message;
    case 'too_small':
      if (issue.message && !issue.message.startsWith('Too small')) return issue.message;
      return issue.origin === 'array' || issue.origin === 'string'
        ? `must have at least ${issue.minimum} ${issue.origin === 'array' ? 'items' : 'characters'}`
        : `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`;
    case 'too_big':
      if (issue.message && !issue.message.startsWith('Too big')) return issue.message;
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
    default:
      return issue.message;
  }
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export function zodProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue) }));
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

/** Validates an already-parsed YAML document. Never throws for bad input: problems come back as values. */
export function parseReaConfig(doc: unknown): ParseResult<ReaConfig> {
  const result = reaConfigSchema.safeParse(doc, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problems: zodProblems(result.error) };
}
