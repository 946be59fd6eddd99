import { z } from 'zod';
import { nonFiniteMetricReason } from '../core/runbooks.ts';
import { zodProblems } from './rea-config.ts';

// The run contract's result file: `{ "metrics": { "ne": 0.8123, ... }, "steps": 12000 }`, with the primary
// metric required and finite.

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const metricValue = z.union([
  z.number(),
  z.null(),
  z.string().regex(/^[-+]?(nan|inf|infinity)$/i, 'must be a number'),
]);

const metricsFileSchema = z.object({
  metrics: z.record(z.string(), metricValue),
  steps: z.number().nonnegative('must not be negative').optional(),
});

export type MetricsResult =
  | { ok: true; metrics: Record<string, number>; steps?: number }
  | { ok: false; reason: string };

/**
 * Checks the text of a `metrics.json` (undefined when the job wrote none). Every runner reads results
 * through here, so a broken file reads the same whether it came from a local process or an artifact.
 */
export function parseMetricsText(text: string | undefined, metricName: string): MetricsResult {
  const invalid = (reason: string): MetricsResult => ({ ok: false, reason });
  if (text === undefined) return invalid('metrics.json was not written');
  let doc: unknown;
  try {
    doc = JSON.parse(quoteNonFiniteLiterals(text));
  } catch (err) {
    return invalid(`metrics.json is not valid JSON: ${errorText(err)}`);
  }
  const parsed = metricsFileSchema.safeParse(doc);
  if (!parsed.success) {
    const p = zodProblems(parsed.error)[0];
    return invalid(
      `metrics.json does not have the expected shape: ${p ? `${p.path}: ${p.message}` : 'invalid'}`,
    );
  }
  const { metrics: raw, steps } = parsed.data;
  const primary = raw[metricName];
  if (primary === undefined) {
    const names = Object.keys(raw);
    return invalid(
      `primary metric '${metricName}' is missing (metrics.json has ${names.length > 0 ? names.join(', ') : 'no metrics'})`,
    );
  }
  if (typeof primary !== 'number' || !Number.isFinite(primary)) {
    return invalid(nonFiniteMetricReason(metricName, primary));
  }
  // Other metrics that came out NaN are left out: a report carries numbers only, and a guardrail on a
  // missing metric is the planner's call.
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'number' && Number.isFinite(v)) metrics[k] = v;
  return steps === undefined ? { ok: true, metrics } : { ok: true, metrics, steps };
}

/**
 * Python's json module writes NaN and Infinity as bare words, which JSON.parse rejects; a diverged run
 * would then look like a broken file. Quote those words (outside strings) so the schema sees them as
 * non-finite values.
 */
function quoteNonFiniteLiterals(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[i + 1] ?? '';
        i++;
      } else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const m = /^(-?Infinity|NaN)/.exec(text.slice(i, i + 9));
    if (m) {
      out += `"${m[1]}"`;
      i += m[1]!.length - 1;
      continue;
    }
    out += c;
  }
  return out;
}
