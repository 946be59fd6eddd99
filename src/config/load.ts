import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { checkKnobValues } from '../core/knobs.ts';
import {
  type ConfigProblem,
  type KnobValues,
  type ParseResult,
  parseReaConfig,
  type ReaConfig,
} from './rea-config.ts';

export interface ModelDir {
  dir: string;
  config: ReaConfig;
  /** Knob values of the baseline config (the file may hold more keys; only knobs are kept). */
  baseline: KnobValues;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseYaml(text: string, label: string): ParseResult<unknown> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        path: label,
        message: `is not valid YAML: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  return { ok: true, value: doc.toJS() };
}

/** Parses and validates `.rea.yml` text (and nothing else). */
export function parseReaYaml(text: string): ParseResult<ReaConfig> {
  const parsed = parseYaml(text, '.rea.yml');
  if (!parsed.ok) return parsed;
  return parseReaConfig(parsed.value);
}

/** Validates baseline config values against the knob space; returns problems rather than throwing. */
export function checkBaseline(config: ReaConfig, doc: unknown, file: string): ParseResult<KnobValues> {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { ok: false, problems: [{ path: `baseline.config_file`, message: `${file} must be a mapping` }] };
  }
  const values: KnobValues = {};
  const problems: ConfigProblem[] = [];
  for (const name of Object.keys(config.knobs)) {
    const v = (doc as Record<string, unknown>)[name];
    if (v === undefined) {
      problems.push({ path: 'baseline.config_file', message: `${file} has no value for knob '${name}'` });
      continue;
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      problems.push({ path: 'baseline.config_file', message: `${file}: '${name}' must be a plain value` });
      continue;
    }
    values[name] = v;
  }
  for (const p of checkKnobValues(config.knobs, values)) {
    problems.push({ path: 'baseline.config_file', message: `${file}: ${p}` });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: values };
}

/** Loads `.rea.yml` and the baseline config of a model directory, with every problem reported. */
export async function loadModelDir(dir: string): Promise<ParseResult<ModelDir>> {
  const abs = path.resolve(dir);
  const text = await readText(path.join(abs, '.rea.yml'));
  if (text === undefined) {
    return { ok: false, problems: [{ path: '.rea.yml', message: `not found in ${abs}` }] };
  }
  const cfg = parseReaYaml(text);
  if (!cfg.ok) return cfg;
  const baselineFile = cfg.value.baseline.config_file;
  const baselineText = await readText(path.join(abs, baselineFile));
  if (baselineText === undefined) {
    return {
      ok: false,
      problems: [{ path: 'baseline.config_file', message: `${baselineFile} not found in ${abs}` }],
    };
  }
  const baselineDoc = parseYaml(baselineText, 'baseline.config_file');
  if (!baselineDoc.ok) return baselineDoc;
  const baseline = checkBaseline(cfg.value, baselineDoc.value, baselineFile);
  if (!baseline.ok) return baseline;
  return { ok: true, value: { dir: abs, config: cfg.value, baseline: baseline.value } };
}
