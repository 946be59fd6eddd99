import { describe, expect, it } from 'vitest';
import type { Knob } from '../../src/config/rea-config.ts';
import {
  answerKey,
  checkPatch,
  insightsSummary,
  MAX_CLAIMED_EFFECT,
  MalformedAnswerError,
  validateLlmAnswer,
} from '../../src/core/llm-proposals.ts';
import { insight } from '../adapters/llm/helpers.ts';

// The pure checks of a research agent's answer: every way an answer can be wrong has its own reason.

const knobs: Record<string, Knob> = {
  lr: { type: 'float', min: 0.001, max: 1, log: true },
  depth: { type: 'int', min: 1, max: 8, step: 1 },
};
const files = { 'src/a.ts': 'one\ntwo\nthree\n' };
const patchA = (from = 'two', to = 'TWO', file = 'src/a.ts') =>
  `--- a/${file}\n+++ b/${file}\n@@ -1,3 +1,3 @@\n one\n-${from}\n+${to}\n three\n`;

function validate(hypotheses: unknown[]) {
  return validateLlmAnswer({
    text: JSON.stringify({ hypotheses }),
    agent: 'claude:m',
    knobs,
    baseline: { lr: 0.01, depth: 2 },
    editable: ['src/**/*.ts'],
    files,
  });
}
const h = (over: Record<string, unknown>) => ({
  title: 't',
  rationale: 'r',
  expected_effect: 0.01,
  risk: 'low',
  evidence: [],
  kind: 'config',
  overrides: [{ knob: 'lr', value: 0.02 }],
  patch: null,
  ...over,
});

describe('checkPatch', () => {
  it('accepts a diff that applies and names the files it touches', () => {
    expect(checkPatch(patchA(), ['src/**'], files)).toEqual({
      ok: true,
      patch: patchA(),
      files: ['src/a.ts'],
    });
  });

  it('accepts a new file inside editable, and rejects one outside', () => {
    const add = '--- /dev/null\n+++ b/src/new.ts\n@@ -0,0 +1 @@\n+export {};\n';
    expect(checkPatch(add, ['src/**'], files)).toMatchObject({ ok: true, files: ['src/new.ts'] });
    const out = add.replaceAll('src/new.ts', 'lib/new.ts');
    expect(checkPatch(out, ['src/**'], files)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/lib\/new\.ts, which is not editable/),
    });
  });

  it('rejects paths that escape the repository even when a glob would match', () => {
    expect(checkPatch(patchA('two', 'TWO', 'src/../../etc/passwd'), ['**'], files)).toMatchObject({
      ok: false,
      reason: "the patch touches an unsafe path 'src/../../etc/passwd'",
    });
  });

  it('rejects text that is not a diff, and a diff whose context differs', () => {
    expect(checkPatch('just change two to TWO', ['src/**'], files)).toMatchObject({
      ok: false,
      reason: /no hunks/,
    });
    expect(checkPatch(patchA('zwei'), ['src/**'], files)).toMatchObject({
      ok: false,
      reason: 'the patch does not apply cleanly to src/a.ts',
    });
  });
});

describe('validateLlmAnswer', () => {
  it('turns valid items into drafts with provenance and caps a claimed effect', () => {
    const out = validate([
      h({
        title: 'lr up',
        expected_effect: 0.9,
        overrides: [
          { knob: 'lr', value: 0.02 },
          { knob: 'depth', value: 3 },
        ],
      }),
      h({ title: 'code', kind: 'code', overrides: [], patch: patchA() }),
    ]);
    expect(out.rejected).toEqual([]);
    expect(out.hypotheses[0]).toMatchObject({
      source: 'research',
      agent: 'claude:m',
      kind: 'config',
      overrides: { lr: 0.02, depth: 3 },
      expectedEffect: MAX_CLAIMED_EFFECT,
    });
    expect(out.hypotheses[1]).toMatchObject({ kind: 'code', overrides: {}, files: ['src/a.ts'] });
  });

  it('rejects a knob set twice, duplicates by whole change, and titles the nameless', () => {
    const out = validate([
      h({
        title: 'twice',
        overrides: [
          { knob: 'lr', value: 0.02 },
          { knob: 'lr', value: 0.03 },
        ],
      }),
      h({ title: 'code', kind: 'code', overrides: [], patch: patchA() }),
      h({
        title: 'same code, other header',
        kind: 'code',
        overrides: [],
        patch: `diff --git a/src/a.ts b/src/a.ts\n${patchA()}`,
      }),
      h({ title: 'other code', kind: 'code', overrides: [], patch: patchA('two', 'Two') }),
      42,
    ]);
    expect(out.hypotheses.map((x) => x.title)).toEqual(['code', 'other code']);
    expect(out.rejected.map((r) => [r.title, r.reason.split(':')[0]])).toEqual([
      ['twice', 'malformed'],
      ['same code, other header', "duplicate of 'code' in the same answer"],
      ['hypothesis #5', 'malformed'],
    ]);
  });

  it('throws a typed error when the whole answer is unusable', () => {
    const run = (text: string) => () =>
      validateLlmAnswer({ text, agent: 'a', knobs, baseline: {}, editable: [], files: {} });
    expect(run('{"hypotheses": [')).toThrow(MalformedAnswerError);
    expect(run('[]')).toThrow(/does not match the schema/);
  });

  it('keys a change by its knob values and its normalised patch', () => {
    expect(answerKey({ overrides: { a: 1, b: 2 } })).toBe(answerKey({ overrides: { b: 2, a: 1 } }));
    expect(answerKey({ overrides: {}, patch: patchA() })).not.toBe(answerKey({ overrides: {} }));
    expect(answerKey({ overrides: {}, patch: patchA() })).toBe(
      answerKey({ overrides: {}, patch: `${patchA()}\n\n` }),
    );
  });
});

describe('insightsSummary', () => {
  it('lists wins, losses and failures with intervals, best first', () => {
    const text = insightsSummary('ctr-ranker', [
      insight({ overrides: { lr: 0.1 }, status: 'win', meanEffect: 0.01, lo: 0.002, hi: 0.018 }),
      insight({ overrides: { lr: 0.3 }, status: 'win', meanEffect: 0.02, lo: 0.01, hi: 0.03 }),
      insight({ overrides: { depth: 8 }, status: 'infeasible', reason: 'out of memory' }),
      insight({
        overrides: { depth: 1 },
        status: 'loss',
        meanEffect: -0.03,
        lo: -0.04,
        hi: -0.02,
        model: 'other',
      }),
    ]);
    expect(text.split('\n')).toEqual([
      'Wins (positive is better):',
      '- lr=0.3: +2.00% [+1.00%, +3.00%] at fidelity 0.1, 3 runs',
      '- lr=0.1: +1.00% [+0.20%, +1.80%] at fidelity 0.1, 3 runs',
      'Losses (worse than baseline; do not propose again):',
      '- depth=1 (on other): -3.00% [-4.00%, -2.00%] at fidelity 0.1, 3 runs',
      'Infeasible (failed to run):',
      '- depth=8: +0.00% [+0.00%, +0.00%] at fidelity 0.1, 3 runs; out of memory',
    ]);
    expect(insightsSummary('m', [])).toMatch(/No earlier experiments/);
  });
});
