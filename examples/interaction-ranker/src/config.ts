/**
 * The job's configuration: the baseline config file, knob overrides and the run contract read from the
 * environment (REA_RUN_ID, REA_OVERRIDES, REA_FIDELITY, REA_SEED, REA_OUTPUT_DIR).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { LOSSES, type ModelConfig } from './model.ts';

/** A configuration problem; the job exits with code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type KnobName = keyof ModelConfig;

interface KnobSpec {
  /** Human-readable expected type, used in error messages. */
  expected: string;
  check: (value: unknown) => boolean;
}

const positiveFloat: KnobSpec = {
  expected: 'a finite number > 0',
  check: (v) => typeof v === 'number' && Number.isFinite(v) && v > 0,
};

function intAtLeast(min: number, max = Number.MAX_SAFE_INTEGER): KnobSpec {
  return {
    expected: max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`,
    check: (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max,
  };
}

/** Every knob of .rea.yml with the type the job accepts for it. */
export const KNOB_SPECS: Readonly<Record<KnobName, KnobSpec>> = {
  learning_rate: positiveFloat,
  warmup: { expected: 'a boolean', check: (v) => typeof v === 'boolean' },
  hidden_units: intAtLeast(1, 4096),
  batch_size: intAtLeast(1),
  weight_decay: {
    expected: 'a finite number >= 0',
    check: (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0,
  },
  loss: {
    expected: `one of ${LOSSES.map((o) => JSON.stringify(o)).join(', ')}`,
    check: (v) => typeof v === 'string' && (LOSSES as readonly string[]).includes(v),
  },
  cross_features: { expected: 'a boolean', check: (v) => typeof v === 'boolean' },
};

export const KNOB_NAMES = Object.keys(KNOB_SPECS) as KnobName[];

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates knob values; `source` names where they came from, for error messages. */
function checkKnobs(values: Record<string, unknown>, source: string): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Object.hasOwn(KNOB_SPECS, name)) {
      throw new ConfigError(
        `${source}: unknown knob ${JSON.stringify(name)} (known knobs: ${KNOB_NAMES.join(', ')})`,
      );
    }
    const spec = KNOB_SPECS[name as KnobName];
    if (!spec.check(value)) {
      throw new ConfigError(`${source}.${name}: expected ${spec.expected}, got ${describe(value)}`);
    }
  }
}

/** Parses a complete config (every knob present, nothing else). */
export function parseConfig(raw: unknown, source: string): ModelConfig {
  if (!isPlainObject(raw))
    throw new ConfigError(`${source}: expected a mapping of knob values, got ${describe(raw)}`);
  checkKnobs(raw, source);
  const missing = KNOB_NAMES.filter((k) => !Object.hasOwn(raw, k));
  if (missing.length > 0) throw new ConfigError(`${source}: missing knob(s) ${missing.join(', ')}`);
  return { ...(raw as unknown as ModelConfig) };
}

export function loadConfigFile(file: string): ModelConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: invalid YAML: ${(e as Error).message}`);
  }
  return parseConfig(raw, file);
}

/** Parses REA_OVERRIDES (absent or blank means no overrides). */
export function parseOverrides(json: string | undefined): Partial<ModelConfig> {
  if (json === undefined || json.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ConfigError(`REA_OVERRIDES: invalid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(raw))
    throw new ConfigError(`REA_OVERRIDES: expected a JSON object, got ${describe(raw)}`);
  checkKnobs(raw, 'REA_OVERRIDES');
  return raw as Partial<ModelConfig>;
}

export function applyOverrides(base: ModelConfig, overrides: Partial<ModelConfig>): ModelConfig {
  return { ...base, ...overrides };
}

export interface RunEnv {
  runId: string;
  overrides: Partial<ModelConfig>;
  fidelity: number;
  seed: number;
  outputDir: string;
}

/** Reads the run contract from the environment. */
export function parseRunEnv(env: NodeJS.ProcessEnv): RunEnv {
  const fidelityText = env.REA_FIDELITY?.trim() ?? '';
  const fidelity = fidelityText === '' ? 1 : Number(fidelityText);
  if (!Number.isFinite(fidelity) || fidelity <= 0 || fidelity > 1) {
    throw new ConfigError(
      `REA_FIDELITY: expected a number in (0, 1], got ${JSON.stringify(env.REA_FIDELITY)}`,
    );
  }
  const seedText = env.REA_SEED?.trim() ?? '';
  const seed = seedText === '' ? 0 : Number(seedText);
  if (!Number.isSafeInteger(seed)) {
    throw new ConfigError(`REA_SEED: expected an integer, got ${JSON.stringify(env.REA_SEED)}`);
  }
  const outputDir = env.REA_OUTPUT_DIR?.trim() ? env.REA_OUTPUT_DIR : './out';
  return {
    runId: env.REA_RUN_ID ?? 'local',
    overrides: parseOverrides(env.REA_OVERRIDES),
    fidelity,
    seed,
    outputDir,
  };
}
