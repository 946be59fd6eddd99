import type { LlmUsage } from '../../core/model.ts';

// What an LLM call costs in dollars. ASSUMPTION: list prices per million tokens as published by Anthropic
// for standard (not batch, not priority) requests, copied by hand; they change, so REA_LLM_USD_PER_MTOK_IN
// and REA_LLM_USD_PER_MTOK_OUT override them. Prompt-cache writes (5-minute ephemeral) cost 1.25x the input
// price and cache reads 0.1x, as Anthropic documents.

export interface Price {
  /** USD per million input tokens. */
  inPerMTok: number;
  /** USD per million output tokens. */
  outPerMTok: number;
  /** How the price was found: the table, the environment, or a guess for an unknown model id. */
  basis: 'table' | 'env' | 'assumed';
}

/** Prefix of the model id -> price; the first matching prefix wins, so keep specific ones first. */
const TABLE: Array<[string, number, number]> = [
  ['claude-opus-4-0', 15, 75],
  ['claude-opus-4-1', 15, 75],
  ['claude-opus-4-2025', 15, 75],
  ['claude-opus', 5, 25],
  ['claude-sonnet', 3, 15],
  ['claude-3-7-sonnet', 3, 15],
  ['claude-haiku-4', 1, 5],
  ['claude-3-5-haiku', 0.8, 4],
];

/** Sonnet rates, assumed for a model id the table does not know. */
const FALLBACK: [number, number] = [3, 15];

export const CACHE_WRITE_FACTOR = 1.25;
export const CACHE_READ_FACTOR = 0.1;

export function priceFor(model: string, override: { inPerMTok?: number; outPerMTok?: number } = {}): Price {
  const row = TABLE.find(([prefix]) => model.startsWith(prefix));
  const [tin, tout] = row ? [row[1], row[2]] : FALLBACK;
  const env = override.inPerMTok !== undefined || override.outPerMTok !== undefined;
  return {
    inPerMTok: override.inPerMTok ?? tin,
    outPerMTok: override.outPerMTok ?? tout,
    basis: env ? 'env' : row ? 'table' : 'assumed',
  };
}

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

/** Dollars for one call; `inputTokens` excludes cached tokens, as the Messages API reports it. */
export function usdFor(tokens: TokenCounts, price: Price): number {
  const usd =
    (tokens.inputTokens * price.inPerMTok +
      tokens.cacheWriteTokens * price.inPerMTok * CACHE_WRITE_FACTOR +
      tokens.cacheReadTokens * price.inPerMTok * CACHE_READ_FACTOR +
      tokens.outputTokens * price.outPerMTok) /
    1e6;
  return Math.round(usd * 1e6) / 1e6;
}

export function llmUsage(agent: string, model: string, tokens: TokenCounts, price: Price): LlmUsage {
  return { agent, model, ...tokens, usd: usdFor(tokens, price) };
}
