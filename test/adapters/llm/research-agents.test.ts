import { describe, expect, it } from 'vitest';
import { ClaudeResearchAgent } from '../../../src/adapters/llm/claude-research-agent.ts';
import { OfflineResearchAgent } from '../../../src/adapters/llm/offline-research-agent.ts';
import { priceFor, usdFor } from '../../../src/adapters/llm/pricing.ts';
import {
  DEFAULT_LLM_MODEL,
  NO_KEY_NOTE,
  researchSources,
} from '../../../src/adapters/llm/research-agents.ts';
import { exampleContext } from './helpers.ts';

// The one place that picks the research agent from the environment, and the price table.

describe('researchSources', () => {
  it('uses the offline agent without an API key and says so in every proposal', async () => {
    for (const env of [{}, { ANTHROPIC_API_KEY: '  ' }]) {
      const [agent, ...rest] = researchSources(env);
      expect(rest).toEqual([]);
      expect(agent).toBeInstanceOf(OfflineResearchAgent);
      expect((await agent!.propose(await exampleContext())).notes).toEqual([NO_KEY_NOTE]);
    }
  });

  it('uses Claude with the configured model, and a current Sonnet by default', () => {
    const [a] = researchSources({ ANTHROPIC_API_KEY: 'k' });
    expect(a).toBeInstanceOf(ClaudeResearchAgent);
    expect((a as ClaudeResearchAgent).agent).toBe(`claude:${DEFAULT_LLM_MODEL}`);
    const [b] = researchSources({ ANTHROPIC_API_KEY: 'k', REA_LLM_MODEL: 'claude-opus-4-6' });
    expect((b as ClaudeResearchAgent).agent).toBe('claude:claude-opus-4-6');
  });

  it('fails with a clear message on an invalid setting', () => {
    expect(() => researchSources({ ANTHROPIC_API_KEY: 'k', REA_LLM_TIMEOUT_MS: 'soon' })).toThrow(
      /invalid research agent settings: REA_LLM_TIMEOUT_MS must be a number/,
    );
    expect(() => researchSources({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'not a url' })).toThrow(
      /ANTHROPIC_BASE_URL must be a URL/,
    );
    expect(() => researchSources({ ANTHROPIC_API_KEY: 'k', REA_LLM_MAX_RETRIES: '-1' })).toThrow(
      /REA_LLM_MAX_RETRIES must not be negative/,
    );
  });
});

describe('pricing', () => {
  it('prices by model family, lets the environment override, and marks unknown ids as assumed', () => {
    expect(priceFor('claude-sonnet-5-5')).toEqual({ inPerMTok: 3, outPerMTok: 15, basis: 'table' });
    expect(priceFor('claude-opus-4-1-20250805')).toMatchObject({ inPerMTok: 15, outPerMTok: 75 });
    expect(priceFor('claude-opus-4-6')).toMatchObject({ inPerMTok: 5, outPerMTok: 25 });
    expect(priceFor('claude-haiku-4-5')).toMatchObject({ inPerMTok: 1, outPerMTok: 5 });
    expect(priceFor('gpt-x')).toEqual({ inPerMTok: 3, outPerMTok: 15, basis: 'assumed' });
    expect(priceFor('claude-sonnet-5-5', { inPerMTok: 1 })).toEqual({
      inPerMTok: 1,
      outPerMTok: 15,
      basis: 'env',
    });
  });

  it('charges cache writes at 1.25x and reads at 0.1x the input price', () => {
    const p = priceFor('claude-sonnet-5-5');
    const t = { inputTokens: 1e6, outputTokens: 1e6, cacheReadTokens: 1e6, cacheWriteTokens: 1e6 };
    expect(usdFor(t, p)).toBeCloseTo(3 + 15 + 0.3 + 3.75, 9);
  });
});
