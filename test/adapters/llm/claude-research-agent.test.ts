import { readFileSync } from 'node:fs';
import path from 'node:path';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ClaudeAgentOptions,
  ClaudeResearchAgent,
} from '../../../src/adapters/llm/claude-research-agent.ts';
import { OfflineResearchAgent } from '../../../src/adapters/llm/offline-research-agent.ts';
import { priceFor } from '../../../src/adapters/llm/pricing.ts';
import { llmOutputSchema } from '../../../src/core/llm-proposals.ts';
import { credential, type FakeAnthropic, startFakeAnthropic } from '../../emulators/anthropic/server.ts';
import { EXAMPLE, exampleContext, goodPatch, hyp, staleUnappliablePatch, validAnswer } from './helpers.ts';

// The research agent against a fake Messages API: what it sends, how it validates what comes back, and how
// it falls back to the offline agent when the API or the answer fails.

let fake: FakeAnthropic;
beforeAll(async () => {
  fake = await startFakeAnthropic({ apiKey: 'sk-ant-test' });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

function agent(over: Partial<ClaudeAgentOptions> = {}): ClaudeResearchAgent {
  return new ClaudeResearchAgent({
    apiKey: 'sk-ant-test',
    baseURL: fake.url,
    model: 'claude-sonnet-5-5',
    timeoutMs: 5000,
    maxRetries: 1,
    maxTokens: 4096,
    maxCodeChars: 100_000,
    price: priceFor('claude-sonnet-5-5'),
    fallback: new OfflineResearchAgent(),
    ...over,
  });
}

describe('ClaudeResearchAgent', () => {
  it('sends goal, .rea.yml, baseline, editable code and insights, with the schema and cache control', async () => {
    fake.script({ kind: 'json', value: validAnswer() });
    const out = await agent().propose(await exampleContext('reduce NE on new users'));

    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.path).toBe('/v1/messages');
    expect(credential(req)).toBe('sk-ant-test');
    expect(req.headers['anthropic-version']).toBeTruthy();
    expect(req.body.model).toBe('claude-sonnet-5-5');
    const system = req.body.system as Array<{ text: string; cache_control?: { type: string } }>;
    const all = system.map((b) => b.text).join('\n');
    expect(all).toContain('reduce NE on new users');
    expect(all).toContain(readFileSync(path.join(EXAMPLE, '.rea.yml'), 'utf8'));
    expect(all).toContain(readFileSync(path.join(EXAMPLE, 'configs/baseline.yaml'), 'utf8'));
    for (const f of ['src/config.ts', 'src/data.ts', 'src/model.ts', 'src/rng.ts']) {
      expect(all).toContain(`## ${f}`);
    }
    expect(all).toContain(readFileSync(path.join(EXAMPLE, 'src/rng.ts'), 'utf8'));
    expect(all).not.toContain('## train.ts');
    expect(all).toMatch(/optimizer="adagrad": \+3\.10% \[\+2\.00%, \+4\.20%\]/);
    expect(all).toContain('diverged in 3 of 3 runs');
    // Static blocks (instructions; .rea.yml, baseline and code) are cached; the goal and insights are not.
    expect(system.map((b) => b.cache_control?.type)).toEqual(['ephemeral', 'ephemeral', undefined]);
    expect(system[2]!.text).toContain('reduce NE on new users');
    expect(req.body.output_config?.format).toEqual(
      JSON.parse(JSON.stringify(zodOutputFormat(llmOutputSchema))),
    );

    expect(out.rejected).toEqual([]);
    expect(out.hypotheses.map((h) => [h.title, h.kind, h.source, h.agent])).toEqual([
      ['adagrad with crosses', 'config', 'research', 'claude:claude-sonnet-5-5'],
      ['embedding 16', 'config', 'research', 'claude:claude-sonnet-5-5'],
      ['comment in rng', 'code', 'research', 'claude:claude-sonnet-5-5'],
    ]);
    expect(out.hypotheses[0]!.overrides).toEqual({ optimizer: 'adagrad', feature_crosses: true });
    const code = out.hypotheses[2]!;
    expect(code.files).toEqual(['src/rng.ts']);
    expect(code.patch).toContain('+// rea test: a harmless comment');
    expect(code.overrides).toEqual({});

    const u = out.usage![0]!;
    expect(u).toMatchObject({
      agent: 'claude:claude-sonnet-5-5',
      model: 'claude-sonnet-5-5',
      cacheReadTokens: 0,
    });
    expect(u.cacheWriteTokens).toBeGreaterThan(10_000);
    expect(u.inputTokens).toBeGreaterThan(0);
    expect(u.outputTokens).toBeGreaterThan(0);
    const expected =
      (u.inputTokens * 3 + u.cacheWriteTokens * 3.75 + u.cacheReadTokens * 0.3 + u.outputTokens * 15) / 1e6;
    expect(u.usd).toBeCloseTo(expected, 6);

    // The same model and code again: the static prefix is read from the cache, and costs less.
    fake.script({ kind: 'json', value: validAnswer() });
    const again = await agent().propose(await exampleContext('a different goal'));
    const u2 = again.usage![0]!;
    expect(u2.cacheReadTokens).toBe(u.cacheWriteTokens);
    expect(u2.cacheWriteTokens).toBe(0);
    expect(u2.usd).toBeLessThan(u.usd);
  });

  it('rejects each kind of invalid hypothesis with its reason and keeps the valid ones', async () => {
    const answer = validAnswer();
    answer.hypotheses.push(
      hyp({ title: 'lr too big', overrides: [{ knob: 'learning_rate', value: 5 }] }),
      hyp({ title: 'unknown knob', overrides: [{ knob: 'dropout', value: 0.1 }] }),
      hyp({ title: 'edit train.ts', kind: 'code', patch: goodPatch('train.ts') }),
      hyp({ title: 'edit baseline', kind: 'code', patch: goodPatch('configs/baseline.yaml') }),
      hyp({ title: 'stale diff', kind: 'code', patch: staleUnappliablePatch() }),
      hyp({ title: 'embedding 16 again', overrides: [{ knob: 'embedding_dim', value: 16 }] }),
      hyp({ title: 'no risk given', risk: 'unknown' }),
      hyp({ title: 'config with patch', overrides: [{ knob: 'epochs', value: 2 }], patch: goodPatch() }),
      hyp({ title: 'code without patch', kind: 'code' }),
      { title: 'missing fields' },
    );
    fake.script({ kind: 'json', value: answer });
    const out = await agent().propose(await exampleContext());
    expect(out.hypotheses.map((h) => h.title)).toEqual([
      'adagrad with crosses',
      'embedding 16',
      'comment in rng',
    ]);
    const reasons = Object.fromEntries(out.rejected.map((r) => [r.title, r.reason]));
    expect(reasons['lr too big']).toMatch(
      /^outside the knob space: 'learning_rate' must be in \[0\.001, 1\]/,
    );
    expect(reasons['unknown knob']).toMatch(/^outside the knob space: 'dropout' is not a knob/);
    expect(reasons['edit train.ts']).toMatch(
      /touches train\.ts, which is not editable \(editable: src\/\*\*\/\*\.ts\)/,
    );
    expect(reasons['edit baseline']).toMatch(/touches configs\/baseline\.yaml, which is not editable/);
    expect(reasons['stale diff']).toBe('the patch does not apply cleanly to src/model.ts');
    expect(reasons['embedding 16 again']).toBe("duplicate of 'embedding 16' in the same answer");
    expect(reasons['no risk given']).toMatch(/^malformed: risk/);
    expect(reasons['config with patch']).toMatch(/^malformed: a config hypothesis must not carry a patch/);
    expect(reasons['code without patch']).toMatch(/^malformed: a code hypothesis needs a patch/);
    expect(reasons['missing fields']).toMatch(/^malformed: /);
    for (const r of out.rejected)
      expect(r).toMatchObject({ source: 'research', agent: 'claude:claude-sonnet-5-5' });
    expect(out.notes[0]).toBe('claude:claude-sonnet-5-5 proposed 13 hypotheses; 10 failed validation');
  });

  it.each([
    [
      'malformed JSON',
      { kind: 'text', text: 'Here are some ideas: lower the learning rate' },
      /malformed answer: the answer is not JSON/,
    ],
    [
      'a schema violation',
      { kind: 'json', value: { ideas: ['x'] } },
      /malformed answer: the answer does not match the schema: hypotheses/,
    ],
    [
      'a cut-off answer',
      { kind: 'json', value: { hypotheses: [] }, stopReason: 'max_tokens' },
      /cut off at 4096 output tokens/,
    ],
  ] as const)(
    'falls back to the offline agent on %s, still recording what the call cost',
    async (_, answer, reason) => {
      fake.script(answer);
      const ctx = await exampleContext();
      const out = await agent().propose(ctx);
      const offline = await new OfflineResearchAgent().propose(ctx);
      expect(out.hypotheses).toEqual(offline.hypotheses);
      expect(out.notes.at(-1)).toMatch(reason);
      expect(out.notes.at(-1)).toMatch(/hypotheses come from the offline research agent instead$/);
      expect(out.usage).toHaveLength(1);
    },
  );

  it.each([
    [429, /rate limited \(429\) after 1 retry/],
    [529, /API overloaded \(529\) after 1 retry/],
    [500, /API server error \(500\) after 1 retry/],
  ])('falls back after the SDK retried a %i once', async (status, reason) => {
    fake.script({ kind: 'error', status }, { kind: 'error', status });
    const out = await agent({ maxRetries: 1 }).propose(await exampleContext());
    expect(fake.requests).toHaveLength(2);
    expect(out.hypotheses.length).toBeGreaterThan(3);
    expect(out.hypotheses.every((h) => h.agent === 'offline')).toBe(true);
    expect(out.notes.at(-1)).toMatch(reason);
    expect(out.usage).toEqual([]);
  });

  it('uses the answer when a retry succeeds', async () => {
    fake.script({ kind: 'error', status: 529 }, { kind: 'json', value: validAnswer() });
    const out = await agent({ maxRetries: 1 }).propose(await exampleContext());
    expect(fake.requests).toHaveLength(2);
    expect(out.hypotheses).toHaveLength(3);
    expect(out.hypotheses[0]!.agent).toBe('claude:claude-sonnet-5-5');
  });

  it('falls back on a timeout and on a rejected API key', async () => {
    fake.script({ kind: 'hang' });
    const slow = await agent({ timeoutMs: 200, maxRetries: 0 }).propose(await exampleContext());
    expect(slow.notes.at(-1)).toMatch(/timed out after 200 ms \(after 0 retries\)/);
    expect(slow.hypotheses.length).toBeGreaterThan(3);

    const bad = await agent({ apiKey: 'sk-ant-wrong' }).propose(await exampleContext());
    expect(bad.notes.at(-1)).toMatch(/the API key was rejected \(401\)/);
  });

  it('sends no more code than its limit and says which files were left out', async () => {
    fake.script({
      kind: 'json',
      value: {
        hypotheses: [
          hyp({ title: 'patch an unsent file', kind: 'code', patch: staleUnappliablePatch('src/model.ts') }),
        ],
      },
    });
    const out = await agent({ maxCodeChars: 8000 }).propose(await exampleContext());
    const all = (fake.requests[0]!.body.system as Array<{ text: string }>).map((b) => b.text).join('\n');
    expect(all).toContain('## src/rng.ts');
    expect(all).not.toContain('## src/model.ts');
    expect(out.notes.join('\n')).toMatch(/over the 8000-character limit was not sent: .*src\/model\.ts/);
    expect(out.rejected[0]!.reason).toBe(
      'the patch does not apply: src/model.ts is not among the editable files read',
    );
  });
});
