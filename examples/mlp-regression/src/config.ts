/**
 * The job's configuration: the baseline config file, knob overrides (REA_OVERRIDES) and the rest of the
 * run contract read from the environment (REA_RUN_ID, REA_FIDELITY, REA_SEED, REA_OUTPUT_DIR).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export const ACTIVATIONS = ['sigmoid', 'tanh', 'relu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface ModelConfig {
  learning_rate: number;
  momentum: number;
  hidden_units: number;
  weight_decay: number;
  batch_size: number;
  activation: Activation;
  standardize: boolean;
}

/** A configuration problem; the job exits with code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const CHECKS: Record<keyof ModelConfig, [string, (v: unknown) => boolean]> = {
  learning_rate: ['a number > 0', (v) => isNum(v) && v > 0],
  momentum: ['a number in [0, 1)', (v) => isNum(v) && v >= 0 && v < 1],
  hidden_units: ['an integer >= 1', (v) => isNum(v) && Number.isInteger(v) && v >= 1],
  weight_decay: ['a number >= 0', (v) => isNum(v) && v >= 0],
  batch_size: ['an integer >= 1', (v) => isNum(v) && Number.isInteger(v) && v >= 1],
  activation: [
    `one of ${ACTIVATIONS.join(', ')}`,
    (v) => typeof v === 'string' && (ACTIVATIONS as readonly string[]).includes(v),
  ],
  standardize: ['a boolean', (v) => typeof v === 'boolean'],
};
const NAMES = Object.keys(CHECKS) as (keyof ModelConfig)[];

function check(values: Record<string, unknown>, source: string): void {
  for (const [k, v] of Object.entries(values)) {
    const c = CHECKS[k as keyof ModelConfig];
    if (!c)
      throw new ConfigError(`${source}: unknown knob ${JSON.stringify(k)} (known: ${NAMES.join(', ')})`);
    if (!c[1](v)) throw new ConfigError(`${source}.${k}: expected ${c[0]}, got ${JSON.stringify(v)}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadConfigFile(file: string): ModelConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new ConfigError(`${file}: expected a mapping of knob values`);
  check(raw, file);
  const missing = NAMES.filter((k) => !Object.hasOwn(raw, k));
  if (missing.length > 0) throw new ConfigError(`${file}: missing knob(s) ${missing.join(', ')}`);
  return raw as unknown as ModelConfig;
}

export interface RunEnv {
  runId: string;
  overrides: Partial<ModelConfig>;
  fidelity: number;
  seed: number;
  outputDir: string;
}

export function parseRunEnv(env: NodeJS.ProcessEnv): RunEnv {
  let overrides: unknown = {};
  if (env.REA_OVERRIDES?.trim()) {
    try {
      overrides = JSON.parse(env.REA_OVERRIDES);
    } catch (e) {
      throw new ConfigError(`REA_OVERRIDES: invalid JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(overrides)) throw new ConfigError('REA_OVERRIDES: expected a JSON object');
  check(overrides, 'REA_OVERRIDES');
  const fidelity = env.REA_FIDELITY?.trim() ? Number(env.REA_FIDELITY) : 1;
  if (!(fidelity > 0 && fidelity <= 1))
    throw new ConfigError(
      `REA_FIDELITY: expected a number in (0, 1], got ${JSON.stringify(env.REA_FIDELITY)}`,
    );
  const seed = env.REA_SEED?.trim() ? Number(env.REA_SEED) : 0;
  if (!Number.isSafeInteger(seed))
    throw new ConfigError(`REA_SEED: expected an integer, got ${JSON.stringify(env.REA_SEED)}`);
  return {
    runId: env.REA_RUN_ID ?? 'local',
    overrides: overrides as Partial<ModelConfig>,
    fidelity,
    seed,
    outputDir: env.REA_OUTPUT_DIR?.trim() ? env.REA_OUTPUT_DIR : './out',
  };
}
