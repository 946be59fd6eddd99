import type { Logger } from 'pino';
import { z } from 'zod';
import type { HypothesisSource } from '../../app/ports.ts';
import { ClaudeResearchAgent } from './claude-research-agent.ts';
import { OfflineResearchAgent } from './offline-research-agent.ts';
import { priceFor } from './pricing.ts';

// The one place that chooses the research agent, for every entry point (rea plan, rea run, rea demo and
// rea serve): Claude when ANTHROPIC_API_KEY is set (falling back to the offline agent when it fails), the
// offline agent otherwise, with the reason shown in the plan's notes.

/** A current Sonnet; REA_LLM_MODEL chooses another. */
export const DEFAULT_LLM_MODEL = 'claude-sonnet-5-5';

const positive = (name: string) =>
  z.coerce.number({ error: `${name} must be a number` }).positive(`${name} must be greater than 0`);

const envSchema = z.object({
  ANTHROPIC_API_KEY: z.string().optional(),
  ANTHROPIC_BASE_URL: z.url({ error: 'ANTHROPIC_BASE_URL must be a URL' }).optional(),
  REA_LLM_MODEL: z.string().min(1).default(DEFAULT_LLM_MODEL),
  REA_LLM_TIMEOUT_MS: positive('REA_LLM_TIMEOUT_MS').default(120_000),
  REA_LLM_MAX_RETRIES: z.coerce
    .number({ error: 'REA_LLM_MAX_RETRIES must be a number' })
    .int('REA_LLM_MAX_RETRIES must be a whole number')
    .min(0, 'REA_LLM_MAX_RETRIES must not be negative')
    .default(2),
  REA_LLM_MAX_TOKENS: positive('REA_LLM_MAX_TOKENS').int().default(8192),
  REA_LLM_MAX_CODE_CHARS: positive('REA_LLM_MAX_CODE_CHARS').int().default(100_000),
  REA_LLM_USD_PER_MTOK_IN: z.coerce.number().nonnegative('REA_LLM_USD_PER_MTOK_IN must be >= 0').optional(),
  REA_LLM_USD_PER_MTOK_OUT: z.coerce.number().nonnegative('REA_LLM_USD_PER_MTOK_OUT must be >= 0').optional(),
});

export const NO_KEY_NOTE =
  'ANTHROPIC_API_KEY is not set: hypotheses come from the offline research agent (one-change moves over the knob space)';

/** The research agents configured by the environment. Throws with a clear message on an invalid setting. */
export function researchSources(env: NodeJS.ProcessEnv, log?: Logger): HypothesisSource[] {
  const blank = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v);
  const parsed = envSchema.safeParse(
    Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, blank(env[k])])),
  );
  if (!parsed.success) {
    throw new Error(
      `invalid research agent settings: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const e = parsed.data;
  if (!e.ANTHROPIC_API_KEY) return [new OfflineResearchAgent({ note: NO_KEY_NOTE })];
  return [
    new ClaudeResearchAgent({
      apiKey: e.ANTHROPIC_API_KEY,
      ...(e.ANTHROPIC_BASE_URL ? { baseURL: e.ANTHROPIC_BASE_URL } : {}),
      model: e.REA_LLM_MODEL,
      timeoutMs: e.REA_LLM_TIMEOUT_MS,
      maxRetries: e.REA_LLM_MAX_RETRIES,
      maxTokens: e.REA_LLM_MAX_TOKENS,
      maxCodeChars: e.REA_LLM_MAX_CODE_CHARS,
      price: priceFor(e.REA_LLM_MODEL, {
        ...(e.REA_LLM_USD_PER_MTOK_IN !== undefined ? { inPerMTok: e.REA_LLM_USD_PER_MTOK_IN } : {}),
        ...(e.REA_LLM_USD_PER_MTOK_OUT !== undefined ? { outPerMTok: e.REA_LLM_USD_PER_MTOK_OUT } : {}),
      }),
      fallback: new OfflineResearchAgent(),
      ...(log ? { log } : {}),
    }),
  ];
}
