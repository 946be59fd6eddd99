import { parse } from 'yaml';

// The parts of a GitHub Actions workflow file the emulator needs: its name and run-name, the
// workflow_dispatch inputs (GitHub rejects a dispatch whose inputs do not match them), and the jobs
// (their names, runner labels and steps show up in the jobs API).

export type WorkflowInputType = 'string' | 'choice' | 'boolean' | 'number' | 'environment';

export interface WorkflowInput {
  description?: string;
  required: boolean;
  type: WorkflowInputType;
  default?: string;
  options?: string[];
}

export interface WorkflowStepSpec {
  name: string;
  /** A `run:` step (a shell command) rather than a `uses:` action: where a job's own work fails. */
  runsCommand: boolean;
}

export interface WorkflowJobSpec {
  id: string;
  name: string;
  runsOn: string[];
  steps: WorkflowStepSpec[];
}

export interface ParsedWorkflow {
  name: string;
  runName?: string;
  /** Present when the workflow has an `on.workflow_dispatch` trigger. */
  dispatchInputs?: Record<string, WorkflowInput>;
  jobs: WorkflowJobSpec[];
}

type Mapping = Record<string, unknown>;

function isMapping(x: unknown): x is Mapping {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function dispatchTrigger(on: unknown): Mapping | undefined {
  if (on === 'workflow_dispatch') return {};
  if (Array.isArray(on)) return on.includes('workflow_dispatch') ? {} : undefined;
  if (!isMapping(on) || !('workflow_dispatch' in on)) return undefined;
  const trigger = on.workflow_dispatch;
  return isMapping(trigger) ? trigger : {};
}

function parseInputs(trigger: Mapping): Record<string, WorkflowInput> {
  const inputs: Record<string, WorkflowInput> = {};
  if (!isMapping(trigger.inputs)) return inputs;
  for (const [name, raw] of Object.entries(trigger.inputs)) {
    const spec = isMapping(raw) ? raw : {};
    const type = (typeof spec.type === 'string' ? spec.type : 'string') as WorkflowInputType;
    const input: WorkflowInput = { required: spec.required === true, type };
    if (typeof spec.description === 'string') input.description = spec.description;
    if (spec.default !== undefined && spec.default !== null) input.default = String(spec.default);
    if (Array.isArray(spec.options)) input.options = spec.options.map(String);
    inputs[name] = input;
  }
  return inputs;
}

function stepSpec(step: unknown, index: number): WorkflowStepSpec {
  if (!isMapping(step)) return { name: `Step ${index + 1}`, runsCommand: false };
  const runsCommand = typeof step.run === 'string';
  if (typeof step.name === 'string') return { name: step.name, runsCommand };
  if (typeof step.uses === 'string') return { name: `Run ${step.uses}`, runsCommand };
  if (typeof step.run === 'string') return { name: `Run ${step.run.split('\n')[0]}`, runsCommand };
  return { name: `Step ${index + 1}`, runsCommand };
}

/** Parses a workflow file; `path` names the workflow when it has no `name`, as GitHub does. */
export function parseWorkflow(path: string, text: string): ParsedWorkflow {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    doc = undefined;
  }
  const root = isMapping(doc) ? doc : {};
  const trigger = dispatchTrigger(root.on);
  const jobs: WorkflowJobSpec[] = [];
  if (isMapping(root.jobs)) {
    for (const [id, raw] of Object.entries(root.jobs)) {
      const job = isMapping(raw) ? raw : {};
      const runsOn = job['runs-on'];
      jobs.push({
        id,
        name: typeof job.name === 'string' ? job.name : id,
        runsOn: Array.isArray(runsOn) ? runsOn.map(String) : runsOn === undefined ? [] : [String(runsOn)],
        steps: Array.isArray(job.steps) ? job.steps.map(stepSpec) : [],
      });
    }
  }
  const out: ParsedWorkflow = { name: typeof root.name === 'string' ? root.name : path, jobs };
  if (typeof root['run-name'] === 'string') out.runName = root['run-name'];
  if (trigger) out.dispatchInputs = parseInputs(trigger);
  return out;
}

export type InputCheck = { ok: true; inputs: Record<string, string> } | { ok: false; message: string };

/**
 * Applies GitHub's dispatch rules: no unknown inputs, every required input present (or defaulted), choice
 * values among the options, booleans true or false. Values are returned as the strings a job sees.
 */
export function checkDispatchInputs(
  declared: Record<string, WorkflowInput>,
  given: Record<string, unknown> | undefined,
): InputCheck {
  const provided = given ?? {};
  const unknown = Object.keys(provided).filter((k) => !(k in declared));
  if (unknown.length) return { ok: false, message: `Unexpected inputs provided: ${JSON.stringify(unknown)}` };
  const inputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const value = provided[name];
    if (value === undefined || value === null) {
      if (spec.default !== undefined) inputs[name] = spec.default;
      else if (spec.required) return { ok: false, message: `Required input '${name}' not provided` };
      continue;
    }
    if (typeof value === 'object') {
      return { ok: false, message: `Provided value for input '${name}' must be a string, number or boolean` };
    }
    const text = String(value);
    if (spec.type === 'choice' && spec.options && !spec.options.includes(text)) {
      return {
        ok: false,
        message: `Provided value '${text}' for input '${name}' not in the list of allowed values`,
      };
    }
    if (spec.type === 'boolean' && text !== 'true' && text !== 'false') {
      return { ok: false, message: `Provided value '${text}' for input '${name}' is not a boolean` };
    }
    if (spec.type === 'number' && !Number.isFinite(Number(text))) {
      return { ok: false, message: `Provided value '${text}' for input '${name}' is not a number` };
    }
    inputs[name] = text;
  }
  return { ok: true, inputs };
}

/** Evaluates the `${{ }}` expressions a run-name typically uses; anything else evaluates to ''. */
export function renderRunName(
  template: string,
  context: { inputs: Record<string, string>; actor: string; refName: string },
): string {
  return template.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => {
    const input = /^(?:github\.event\.)?inputs\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (input) return context.inputs[input[1]!] ?? '';
    if (expr === 'github.actor' || expr === 'github.triggering_actor') return context.actor;
    if (expr === 'github.ref_name') return context.refName;
    if (expr === 'github.event_name') return 'workflow_dispatch';
    return '';
  });
}
