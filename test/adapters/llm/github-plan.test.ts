import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../../emulators/anthropic/server.ts';
import { cleanUp, cleanups, harness, owner, repo, requestPlan, TOY } from '../github/harness.ts';
import { hyp } from './helpers.ts';

// A plan requested on GitHub with the Claude research agent configured in rea serve: the agent reads the
// repository's code through the contents API at the plan's base commit, and the plan PR shows Claude's
// hypotheses with their provenance, the rejected ones with reasons, and what the call cost.

afterEach(cleanUp);

describe('rea serve with the Claude research agent', () => {
  it('reads the repo code on GitHub and shows provenance, rejections and cost in the plan PR', async () => {
    const fake: FakeAnthropic = await startFakeAnthropic({ apiKey: 'sk-ant-gh' });
    cleanups.push(() => fake.close());
    const train = readFileSync(path.join(TOY, 'train.mjs'), 'utf8');
    const lines = train.split('\n');
    const patched = [lines[0], '// rea: try a wider hidden layer', ...lines.slice(1)].join('\n');
    fake.script({
      kind: 'json',
      value: {
        hypotheses: [
          hyp({
            title: 'crosses with adagrad',
            expected_effect: 0.04,
            risk: 'low',
            overrides: [
              { knob: 'crosses', value: true },
              { knob: 'optimizer', value: 'adagrad' },
            ],
          }),
          hyp({
            title: 'annotate train.mjs',
            kind: 'code',
            patch: createTwoFilesPatch('a/train.mjs', 'b/train.mjs', train, patched),
          }),
          hyp({ title: 'width 100', overrides: [{ knob: 'width', value: 100 }] }),
        ],
      },
    });
    const h = await harness({
      env: { ANTHROPIC_API_KEY: 'sk-ant-gh', ANTHROPIC_BASE_URL: fake.url, REA_LLM_MAX_RETRIES: '0' },
      reaYml: (t) => `${t}\neditable: ["*.mjs"]\n`,
    });
    const { plan, pr } = await requestPlan(h);

    const sent = (fake.requests[0]!.body.system as Array<{ text: string }>).map((b) => b.text).join('\n');
    expect(sent).toContain('## train.mjs');
    expect(sent).toContain(train);
    expect(sent).toContain('reduce NE on new users');

    const claude = plan.hypotheses.filter((x) => x.agent.startsWith('claude:'));
    expect(claude.map((x) => x.title).sort()).toEqual(['annotate train.mjs', 'crosses with adagrad']);
    expect(claude.find((x) => x.kind === 'code')?.files).toEqual(['train.mjs']);
    expect(plan.rejected.find((r) => r.title === 'width 100')?.reason).toMatch(/outside the knob space/);
    expect(plan.llmUsage?.[0]?.cacheWriteTokens).toBeGreaterThan(0);

    const { data } = await h.app.rest.pulls.get({ owner, repo, pull_number: pr });
    const body = data.body ?? '';
    expect(body).toMatch(/\| crosses with adagrad \| research \(claude:claude-sonnet-5-5\) \|/);
    expect(body).toMatch(
      /\| annotate train\.mjs \| research \(claude:claude-sonnet-5-5\) \| code \(train\.mjs\) \|/,
    );
    expect(body).toContain("width 100 (research/claude:claude-sonnet-5-5): outside the knob space: 'width'");
    expect(body).toMatch(
      /Research agent cost: claude:claude-sonnet-5-5: \d+ input tokens \(\+0 cache read, \d+ cache write\), \d+ output tokens, \$/,
    );
    expect(h.emulator.violations).toEqual([]);
  });
});
