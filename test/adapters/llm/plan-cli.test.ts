import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../../emulators/anthropic/server.ts';
import { type CliSandbox, cliSandbox } from '../../helpers/cli-sandbox.ts';
import { EXAMPLE, goodPatch, hyp, staleUnappliablePatch, validAnswer } from './helpers.ts';

// `rea plan --json` end to end with the research agent: a spawned CLI talks to the fake Messages API
// through ANTHROPIC_BASE_URL. Claude's valid hypotheses reach the plan with their provenance, invalid ones
// are listed with reasons, the tokens and dollars are recorded; when the API is overloaded the plan is
// still made, from the offline agent, and says why.

const ROOT = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

let fake: FakeAnthropic;
let box: CliSandbox;
beforeAll(async () => {
  fake = await startFakeAnthropic({ apiKey: 'sk-ant-cli' });
  box = await cliSandbox('rea-plan-claude-');
});
afterAll(async () => {
  await fake.close();
  await box.cleanup();
});

async function plan() {
  const { stdout } = await run(
    process.execPath,
    [path.join(ROOT, 'bin/rea.mjs'), 'plan', '--dir', EXAMPLE, '--goal', 'reduce NE on new users', '--json'],
    {
      env: box.env({
        ANTHROPIC_API_KEY: 'sk-ant-cli',
        ANTHROPIC_BASE_URL: fake.url,
        REA_LLM_MODEL: 'claude-sonnet-5-5',
        REA_LLM_MAX_RETRIES: '1',
      }),
    },
  );
  return JSON.parse(stdout);
}

describe('rea plan --json with the Claude research agent', () => {
  it('shows accepted Claude hypotheses with provenance, rejected ones with reasons, and the LLM usage', async () => {
    const answer = validAnswer();
    answer.hypotheses.push(
      hyp({ title: 'lr too big', overrides: [{ knob: 'learning_rate', value: 5 }] }),
      hyp({ title: 'edit train.ts', kind: 'code', patch: goodPatch('train.ts') }),
      hyp({ title: 'stale diff', kind: 'code', patch: staleUnappliablePatch() }),
    );
    fake.script({ kind: 'json', value: answer });
    const p = await plan();
    expect(fake.requests).toHaveLength(1);

    const claude = p.hypotheses.filter((h: { agent: string }) => h.agent === 'claude:claude-sonnet-5-5');
    expect(claude.map((h: { title: string }) => h.title).sort()).toEqual(
      ['adagrad with crosses', 'comment in rng', 'embedding 16'].sort(),
    );
    for (const h of claude) expect(h.source).toBe('research');
    expect(claude.find((h: { kind: string }) => h.kind === 'code')).toMatchObject({
      title: 'comment in rng',
      overrides: {},
      files: ['src/rng.ts'],
      patch: expect.stringContaining('+// rea test: a harmless comment'),
    });
    expect(claude.find((h: { title: string }) => h.title === 'adagrad with crosses').overrides).toEqual({
      optimizer: 'adagrad',
      feature_crosses: true,
    });
    expect(p.hypotheses.every((h: { agent: string }) => h.agent !== 'offline')).toBe(true);

    const reasons = Object.fromEntries(
      p.rejected.map((r: { title: string; reason: string }) => [r.title, r]),
    );
    expect(reasons['lr too big']).toMatchObject({ source: 'research', agent: 'claude:claude-sonnet-5-5' });
    expect(reasons['lr too big'].reason).toMatch(/outside the knob space/);
    expect(reasons['edit train.ts'].reason).toMatch(/not editable/);
    expect(reasons['stale diff'].reason).toMatch(/does not apply cleanly/);

    expect(p.llm_usage).toHaveLength(1);
    expect(p.llm_usage[0]).toMatchObject({
      agent: 'claude:claude-sonnet-5-5',
      model: 'claude-sonnet-5-5',
      cache_read_tokens: 0,
    });
    expect(p.llm_usage[0].input_tokens).toBeGreaterThan(0);
    expect(p.llm_usage[0].cache_write_tokens).toBeGreaterThan(0);
    expect(p.llm_usage[0].usd).toBeGreaterThan(0);
    expect(p.notes).toContain('claude:claude-sonnet-5-5 proposed 6 hypotheses; 3 failed validation');
    expect(p.phases.map((x: { name: string }) => x.name)).toEqual([
      'validation',
      'combination',
      'exploitation',
    ]);
  });

  it('makes a plan from the offline agent when the API is overloaded, and says why', async () => {
    fake.requests.length = 0;
    fake.script({ kind: 'error', status: 529 }, { kind: 'error', status: 529 });
    const p = await plan();
    expect(fake.requests).toHaveLength(2);
    expect(p.notes).toContain(
      'claude:claude-sonnet-5-5 failed (API overloaded (529) after 1 retry); hypotheses come from the offline research agent instead',
    );
    expect(p.hypotheses.length).toBeGreaterThan(3);
    for (const h of p.hypotheses)
      expect(h).toMatchObject({ source: 'research', agent: 'offline', kind: 'config' });
    expect(p.llm_usage).toEqual([]);
    for (const ph of p.phases) expect(ph.gpu_hours_p90).toBeGreaterThanOrEqual(ph.gpu_hours_p50);
  });
});
