import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knob, KnobValues } from '../../src/config/rea-config.ts';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import type { FailureConclusion, Runbook } from '../../src/core/model.ts';
import {
  type DecideRunbookArgs,
  decideRunbookAction,
  explainMatch,
  type FailureInfo,
  failureInfo,
  findRunbookMatch,
  matchRunbook,
  nonFiniteMetricReason,
} from '../../src/core/runbooks.ts';

let builtins: Runbook[];

beforeAll(async () => {
  const loaded = await loadRunbooks({});
  expect(loaded.problems).toEqual([]);
  builtins = loaded.runbooks;
});

function failure(over: Partial<FailureInfo> = {}): FailureInfo {
  return {
    conclusion: 'failure',
    reason: 'exited with code 1',
    logExcerpt: '',
    metricNonFinite: false,
    ...over,
  };
}

function byId(id: string): Runbook {
  const rb = builtins.find((r) => r.id === id);
  if (!rb) throw new Error(`no built-in runbook ${id}`);
  return rb;
}

const knobs: Record<string, Knob> = {
  batch_size: { type: 'choice', values: [256, 512, 1024, 4096] },
  embedding_dim: { type: 'int', min: 8, max: 128, step: 8 },
  learning_rate: { type: 'float', min: 0.0001, max: 0.1, log: true },
  optimizer: { type: 'choice', values: ['adam', 'adagrad', 'sgd'] },
};
const baseline: KnobValues = { batch_size: 4096, embedding_dim: 64, learning_rate: 0.01, optimizer: 'adam' };

function decide(over: Partial<DecideRunbookArgs>): ReturnType<typeof decideRunbookAction> {
  return decideRunbookAction({
    runbook: undefined,
    attemptsSoFar: 1,
    maxAttemptsCap: 10,
    knobs,
    overrides: {},
    baseline,
    concurrencyCap: 4,
    ...over,
  });
}

function custom(over: Partial<Runbook> & { id: string }): Runbook {
  return {
    title: over.id,
    priority: 50,
    match: {},
    action: { type: 'retry' },
    maxAttempts: 3,
    onExhausted: 'pause_and_escalate',
    body: 'explains',
    source: 'test',
    ...over,
  };
}

describe('matchRunbook with the built-in runbooks', () => {
  const cases: Array<[string, Partial<FailureInfo>, string | undefined]> = [
    [
      'torch OOM',
      { logExcerpt: 'step 10\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB' },
      'gpu-oom',
    ],
    ['CUDA error', { logExcerpt: 'RuntimeError: CUDA error: out of memory' }, 'gpu-oom'],
    ['OutOfMemoryError alone', { logExcerpt: 'jax OutOfMemoryError raised' }, 'gpu-oom'],
    ['FloatingPointError', { logExcerpt: 'FloatingPointError: loss is nan' }, 'loss-divergence'],
    ['loss is inf', { logExcerpt: 'step 200: loss is inf, stopping' }, 'loss-divergence'],
    ['Loss is NaN', { logExcerpt: 'Loss is NaN. Aborting.' }, 'loss-divergence'],
    ['loss=nan', { logExcerpt: 'step 300 loss=nan' }, 'loss-divergence'],
    [
      'non-finite primary metric',
      { conclusion: 'metrics_invalid', reason: "primary metric 'ne' is NaN", metricNonFinite: true },
      'loss-divergence',
    ],
    [
      'runner_lost conclusion',
      { conclusion: 'runner_lost', reason: 'the rea process stopped' },
      'runner-lost',
    ],
    [
      'lost communication',
      { logExcerpt: 'The self-hosted runner: gpu-7 lost communication with the server.' },
      'runner-lost',
    ],
    ['shutdown signal', { logExcerpt: 'The runner has received a shutdown signal.' }, 'runner-lost'],
    ['preempted', { logExcerpt: 'Node gke-gpu-pool-3 was preempted' }, 'runner-lost'],
    ['timed_out', { conclusion: 'timed_out', reason: 'exceeded timeout of 720 minutes' }, 'timeout'],
    [
      'startup_failure conclusion',
      { conclusion: 'startup_failure', reason: 'could not start' },
      'startup-failure',
    ],
    ['command not found', { logExcerpt: 'bash: torchrun: command not found' }, 'startup-failure'],
    [
      'a refused code patch',
      {
        conclusion: 'startup_failure',
        reason:
          'rea: the code patch of hypothesis h2 (gelu) was not applied: the patch does not apply to model.mjs: its context differs from the file',
        logExcerpt: '',
      },
      'code-patch-rejected',
    ],
    ['dash not found', { logExcerpt: '/bin/sh: 1: python: not found' }, 'startup-failure'],
    [
      'python missing script',
      { logExcerpt: "python: can't open file '/work/model/train.py': [Errno 2] No such file or directory" },
      'startup-failure',
    ],
    ['Cannot find module', { logExcerpt: "Error: Cannot find module '/work/train.js'" }, 'startup-failure'],
    ['spawn ENOENT', { logExcerpt: 'Error: spawn python ENOENT' }, 'startup-failure'],
    [
      'exit code 127 in the reason',
      { reason: 'exited with code 127 (command not found)' },
      'startup-failure',
    ],
    [
      'FileNotFoundError beats the generic "No such file"',
      { logExcerpt: "FileNotFoundError: [Errno 2] No such file or directory: 'data/train.parquet'" },
      'data-not-found',
    ],
    [
      'NoSuchKey',
      { logExcerpt: 'botocore.errorfactory.NoSuchKey: An error occurred (NoSuchKey)' },
      'data-not-found',
    ],
    [
      'Table not found',
      { logExcerpt: 'AnalysisException: Table not found: ctr.events_v2' },
      'data-not-found',
    ],
    [
      'dataset not found',
      { logExcerpt: 'ValueError: dataset ctr_events_2026_03 not found in catalog' },
      'data-not-found',
    ],
    [
      'metrics_invalid',
      { conclusion: 'metrics_invalid', reason: 'metrics.json was not written' },
      'metrics-invalid',
    ],
    ['a plain failure', { logExcerpt: 'AssertionError\n' }, undefined],
    [
      'a cancelled attempt, even with an OOM in its log',
      { conclusion: 'cancelled', logExcerpt: 'CUDA out of memory' },
      undefined,
    ],
  ];
  it.each(cases)('%s', (_name, f, expected) => {
    expect(matchRunbook(builtins, failure(f))?.id).toBe(expected);
  });

  it('prefers specific runbooks over generic ones', () => {
    const oomLog = 'CUDA out of memory\nThe runner has received a shutdown signal.';
    expect(matchRunbook(builtins, failure({ logExcerpt: oomLog }))?.id).toBe('gpu-oom');
    expect(matchRunbook(builtins, failure({ conclusion: 'runner_lost', logExcerpt: oomLog }))?.id).toBe(
      'gpu-oom',
    );
    const nanLog = 'loss is nan\npreempted';
    expect(matchRunbook(builtins, failure({ conclusion: 'timed_out', logExcerpt: nanLog }))?.id).toBe(
      'loss-divergence',
    );
    // A timeout on a host that was also shutting down is handled as a timeout.
    expect(matchRunbook(builtins, failure({ conclusion: 'timed_out', logExcerpt: 'preempted' }))?.id).toBe(
      'timeout',
    );
    const ids = builtins.map((r) => r.id);
    expect(ids.indexOf('gpu-oom')).toBeLessThan(ids.indexOf('runner-lost'));
    expect(ids.indexOf('loss-divergence')).toBeLessThan(ids.indexOf('metrics-invalid'));
  });

  it('explains what matched, with the last matching line', () => {
    const log = 'warn: CUDA out of memory (recovered)\nstep 2\nRuntimeError: CUDA out of memory. Tried';
    const m = findRunbookMatch(builtins, failure({ logExcerpt: log }));
    expect(m?.runbook.id).toBe('gpu-oom');
    expect(m?.reasons[0]).toEqual({
      kind: 'log',
      pattern: 'CUDA out of memory',
      in: 'log',
      line: 'RuntimeError: CUDA out of memory. Tried',
      lineIndex: 2,
    });
  });
});

describe('the matching rule', () => {
  const both = custom({ id: 'both', match: { conclusions: ['runner_lost'], log: ['node drained'] } });

  it('matches a runbook with conclusions and log patterns when either matches', () => {
    expect(explainMatch(both, failure({ conclusion: 'runner_lost' }))).toEqual([
      { kind: 'conclusion', conclusion: 'runner_lost' },
    ]);
    expect(explainMatch(both, failure({ logExcerpt: 'node drained by autoscaler' }))).toHaveLength(1);
    expect(
      explainMatch(both, failure({ conclusion: 'runner_lost', logExcerpt: 'node drained' })),
    ).toHaveLength(2);
    expect(explainMatch(both, failure({ logExcerpt: 'something else' }))).toEqual([]);
  });

  it('needs the conclusion to be listed when only conclusions are given', () => {
    const rb = custom({ id: 'c', match: { conclusions: ['timed_out', 'runner_lost'] } });
    const conclusions: FailureConclusion[] = ['failure', 'startup_failure', 'metrics_invalid'];
    for (const conclusion of conclusions) expect(matchRunbook([rb], failure({ conclusion }))).toBeUndefined();
    expect(matchRunbook([rb], failure({ conclusion: 'timed_out' }))?.id).toBe('c');
  });

  it('tries log patterns case-insensitively, line by line, against the log and the reason', () => {
    const rb = custom({ id: 'l', match: { log: ['^nccl error'] } });
    expect(
      matchRunbook([rb], failure({ logExcerpt: 'step 1\nNCCL Error 2: unhandled system error' }))?.id,
    ).toBe('l');
    expect(matchRunbook([rb], failure({ logExcerpt: 'got NCCL error' }))).toBeUndefined();
    expect(findRunbookMatch([rb], failure({ reason: 'nccl error in all_reduce' }))?.reasons[0]).toMatchObject(
      {
        in: 'reason',
      },
    );
  });

  it('needs the flag when metricNonFinite is set', () => {
    const rb = custom({ id: 'm', match: { metricNonFinite: true } });
    expect(matchRunbook([rb], failure({ conclusion: 'metrics_invalid' }))).toBeUndefined();
    expect(matchRunbook([rb], failure({ conclusion: 'metrics_invalid', metricNonFinite: true }))?.id).toBe(
      'm',
    );
  });

  it('matches nothing without criteria, and skips a pattern that does not compile', () => {
    expect(matchRunbook([custom({ id: 'empty' })], failure({ logExcerpt: 'x' }))).toBeUndefined();
    const rb = custom({ id: 'bad', match: { log: ['(unclosed', 'boom'] } });
    expect(matchRunbook([rb], failure({ logExcerpt: 'boom' }))?.id).toBe('bad');
  });

  it('picks the lowest priority, then the smaller id', () => {
    const match = { log: ['boom'] };
    const a = custom({ id: 'a', priority: 20, match });
    const b = custom({ id: 'b', priority: 10, match });
    const c = custom({ id: 'c', priority: 10, match });
    expect(matchRunbook([a, c, b], failure({ logExcerpt: 'boom' }))?.id).toBe('b');
    expect(matchRunbook([a, b, c].reverse(), failure({ logExcerpt: 'boom' }))?.id).toBe('b');
  });

  it('matches a cancelled attempt only by a runbook that names cancelled', () => {
    const rb = custom({ id: 'k', match: { conclusions: ['cancelled'] } });
    expect(
      matchRunbook([...builtins, rb], failure({ conclusion: 'cancelled', logExcerpt: 'preempted' }))?.id,
    ).toBe('k');
  });

  it('recognises the non-finite metric reason the runners write', () => {
    expect(nonFiniteMetricReason('ne', Number.NaN)).toBe("primary metric 'ne' is NaN");
    expect(nonFiniteMetricReason('ne', null)).toBe("primary metric 'ne' is NaN (written as null)");
    expect(nonFiniteMetricReason('ne', 'Infinity')).toBe("primary metric 'ne' is not finite (Infinity)");
    const info = failureInfo({
      conclusion: 'metrics_invalid',
      reason: nonFiniteMetricReason('ne', null),
      logExcerpt: '',
    });
    expect(info.metricNonFinite).toBe(true);
    expect(matchRunbook(builtins, info)?.id).toBe('loss-divergence');
    const missing = failureInfo({
      conclusion: 'metrics_invalid',
      reason: "primary metric 'ne' is missing (metrics.json has auc)",
      logExcerpt: '',
    });
    expect(missing.metricNonFinite).toBe(false);
    expect(matchRunbook(builtins, missing)?.id).toBe('metrics-invalid');
  });
});

describe('decideRunbookAction', () => {
  it('escalates when no runbook matches', () => {
    const d = decide({ runbook: undefined });
    expect(d.type).toBe('escalate');
    expect(d.note).toMatch(/no runbook matches/i);
  });

  it('retries unchanged with the failed attempt’s overrides', () => {
    const d = decide({ runbook: byId('runner-lost'), attemptsSoFar: 1, overrides: { learning_rate: 0.03 } });
    expect(d).toEqual({
      type: 'retry',
      overrides: { learning_rate: 0.03 },
      note: 'Runner lost or preempted: retrying unchanged (attempt 2 of 3).',
    });
  });

  it('falls to on_exhausted once the attempts are used up', () => {
    const lost = decide({ runbook: byId('runner-lost'), attemptsSoFar: 3 });
    expect(lost.type).toBe('escalate');
    expect(lost.note).toBe(
      'Runner lost or preempted: gave up after 3 attempts (the limit is 3); pausing the plan and asking a person.',
    );
    expect(decide({ runbook: byId('timeout'), attemptsSoFar: 1 }).type).toBe('retry');
    const timeout = decide({ runbook: byId('timeout'), attemptsSoFar: 2 });
    expect(timeout.type).toBe('skip');
    expect(timeout.note).toMatch(/gave up after 2 attempts.*skipping this configuration as infeasible/);
    expect(decide({ runbook: byId('metrics-invalid'), attemptsSoFar: 2 }).type).toBe('escalate');
  });

  it('uses the smaller of the runbook’s and the run’s attempt caps', () => {
    expect(decide({ runbook: byId('runner-lost'), attemptsSoFar: 2, maxAttemptsCap: 2 }).type).toBe(
      'escalate',
    );
    const d = decide({ runbook: byId('runner-lost'), attemptsSoFar: 1, maxAttemptsCap: 2 });
    expect(d.note).toContain('attempt 2 of 2');
  });

  it('halves a choice batch size to the next smaller value, down to the smallest, then skips', () => {
    const oom = byId('gpu-oom');
    const first = decide({ runbook: oom, attemptsSoFar: 1 });
    expect(first).toEqual({
      type: 'retry',
      overrides: { batch_size: 1024 },
      note: 'GPU out of memory: retrying with batch_size 4096 -> 1024 (attempt 2 of 3).',
    });
    const second = decide({
      runbook: oom,
      attemptsSoFar: 2,
      overrides: { batch_size: 1024, learning_rate: 0.02 },
    });
    expect(second).toMatchObject({ type: 'retry', overrides: { batch_size: 512, learning_rate: 0.02 } });
    expect(decide({ runbook: oom, attemptsSoFar: 3, overrides: { batch_size: 512 } })).toMatchObject({
      type: 'skip',
      note: expect.stringContaining('gave up after 3 attempts'),
    });
    const atMin = decide({
      runbook: { ...oom, maxAttempts: 10 },
      attemptsSoFar: 1,
      overrides: { batch_size: 256 },
    });
    expect(atMin).toEqual({
      type: 'skip',
      note: 'GPU out of memory: batch_size is already at its smallest choice (256), so there is nothing left to change; skipping this configuration as infeasible.',
    });
  });

  it('scales int and float knobs inside their ranges', () => {
    const halveDim = custom({
      id: 'dim',
      action: { type: 'retry_with_overrides', overrides: { embedding_dim: { scale: 0.5 } } },
    });
    expect(decide({ runbook: halveDim })).toMatchObject({ type: 'retry', overrides: { embedding_dim: 32 } });
    expect(decide({ runbook: halveDim, overrides: { embedding_dim: 12 } })).toMatchObject({
      overrides: { embedding_dim: 8 },
    });
    expect(decide({ runbook: halveDim, overrides: { embedding_dim: 8 } })).toMatchObject({
      type: 'escalate',
      note: expect.stringContaining('embedding_dim is already at its smallest allowed value (8)'),
    });
    const lowerLr = custom({
      id: 'lr',
      action: { type: 'retry_with_overrides', overrides: { learning_rate: { scale: 0.1 } } },
    });
    expect(decide({ runbook: lowerLr })).toMatchObject({
      type: 'retry',
      overrides: { learning_rate: 0.001 },
    });
    expect(decide({ runbook: lowerLr, overrides: { learning_rate: 0.0005 } })).toMatchObject({
      overrides: { learning_rate: 0.0001 },
    });
    expect(decide({ runbook: lowerLr, overrides: { learning_rate: 0.0001 } }).type).toBe('escalate');
  });

  it('sets knob values, checking them against the knob space', () => {
    const toSgd = custom({
      id: 'sgd',
      action: { type: 'retry_with_overrides', overrides: { optimizer: { set: 'sgd' } } },
    });
    expect(decide({ runbook: toSgd })).toMatchObject({
      type: 'retry',
      overrides: { optimizer: 'sgd' },
      note: expect.stringContaining('optimizer adam -> sgd'),
    });
    expect(decide({ runbook: toSgd, overrides: { optimizer: 'sgd' } })).toMatchObject({
      type: 'escalate',
      note: expect.stringContaining('optimizer is already sgd'),
    });
    const bad = custom({
      id: 'bad',
      action: { type: 'retry_with_overrides', overrides: { optimizer: { set: 'lion' } } },
    });
    expect(decide({ runbook: bad }).note).toContain('optimizer cannot be set: must be one of');
  });

  it('applies the ops that can change something and ignores knobs the model does not have', () => {
    const rb = custom({
      id: 'two',
      action: {
        type: 'retry_with_overrides',
        overrides: { batch_size: { scale: 0.5 }, micro_batches: { scale: 2 } },
      },
    });
    expect(decide({ runbook: rb })).toMatchObject({ type: 'retry', overrides: { batch_size: 1024 } });
    const oom = byId('gpu-oom');
    const noKnob = decide({ runbook: oom, knobs: { learning_rate: knobs.learning_rate! } });
    expect(noKnob).toEqual({
      type: 'skip',
      note: 'GPU out of memory: batch_size is not a knob of this model, so there is nothing left to change; skipping this configuration as infeasible.',
    });
  });

  it('reduces concurrency to half the cap, or to the runbook’s number, never raising it', () => {
    const halve = custom({ id: 'rc', title: 'Runner overloaded', action: { type: 'reduce_concurrency' } });
    expect(decide({ runbook: halve, concurrencyCap: 5, overrides: { batch_size: 512 } })).toEqual({
      type: 'reduce_concurrency',
      to: 2,
      overrides: { batch_size: 512 },
      note: 'Runner overloaded: lowering concurrency from 5 to 2 runs and retrying (attempt 2 of 3).',
    });
    expect(decide({ runbook: halve, concurrencyCap: 1 })).toMatchObject({
      type: 'reduce_concurrency',
      to: 1,
    });
    const to3 = custom({ id: 'rc3', action: { type: 'reduce_concurrency', to: 3 } });
    expect(decide({ runbook: to3, concurrencyCap: 8 })).toMatchObject({ to: 3 });
    expect(decide({ runbook: to3, concurrencyCap: 2 })).toMatchObject({ to: 2 });
    expect(decide({ runbook: halve, attemptsSoFar: 3 }).type).toBe('escalate');
  });

  it('skips or escalates at once for actions that never retry', () => {
    const div = decide({ runbook: byId('loss-divergence'), attemptsSoFar: 1 });
    expect(div).toEqual({
      type: 'skip',
      note: 'Loss divergence (NaN or inf): skipping this configuration as infeasible (retrying it would fail the same way).',
    });
    for (const id of ['startup-failure', 'data-not-found']) {
      const d = decide({ runbook: byId(id), attemptsSoFar: 1 });
      expect(d.type).toBe('escalate');
      expect(d.note).toContain('asking a person');
    }
    // An escalating runbook escalates even past its attempt count; it never spends attempts.
    expect(decide({ runbook: byId('startup-failure'), attemptsSoFar: 5 }).type).toBe('escalate');
  });
});

describe('runbooks from a model repo', () => {
  let modelDir: string;

  beforeAll(async () => {
    modelDir = await mkdtemp(path.join(tmpdir(), 'rea-runbooks-'));
    const dir = path.join(modelDir, '.rea', 'runbooks');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'gpu-oom.md'),
      [
        '---',
        'id: gpu-oom',
        'title: GPU out of memory (ctr-ranker)',
        'priority: 10',
        'match:',
        "  log: ['CUDA out of memory']",
        'action:',
        '  type: retry_with_overrides',
        '  overrides:',
        '    embedding_dim: { scale: 0.5 }',
        'max_attempts: 5',
        'on_exhausted: pause_and_escalate',
        '---',
        'Our batch size is fixed by the loss; shrink the embeddings instead.',
      ].join('\n'),
    );
    await writeFile(
      path.join(dir, 'nccl-timeout.md'),
      [
        '---',
        'id: nccl-timeout',
        'title: NCCL timeout',
        'priority: 5',
        'match:',
        "  log: ['NCCL.*Watchdog caught collective operation timeout']",
        'action: reduce_concurrency',
        'max_attempts: 2',
        '---',
        'Too many jobs on one host saturate the interconnect.',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await rm(modelDir, { recursive: true, force: true });
  });

  it('replaces a built-in by id and adds new runbooks', async () => {
    const loaded = await loadRunbooks({ modelDir });
    expect(loaded.problems).toEqual([]);
    expect(loaded.runbooks.map((r) => r.id)).toEqual([
      'nccl-timeout',
      'gpu-oom',
      'loss-divergence',
      'data-not-found',
      'code-patch-rejected',
      'startup-failure',
      'timeout',
      'metrics-invalid',
      'runner-lost',
    ]);
    const oom = matchRunbook(loaded.runbooks, failure({ logExcerpt: 'CUDA out of memory' }));
    expect(oom?.source).toBe(path.join('.rea', 'runbooks', 'gpu-oom.md'));
    expect(decide({ runbook: oom, attemptsSoFar: 1 })).toMatchObject({
      type: 'retry',
      overrides: { embedding_dim: 32 },
      note: 'GPU out of memory (ctr-ranker): retrying with embedding_dim 64 -> 32 (attempt 2 of 5).',
    });
    // The built-in's patterns are gone with it: the override decides what an OOM looks like.
    expect(matchRunbook(loaded.runbooks, failure({ logExcerpt: 'torch.OutOfMemoryError' }))).toBeUndefined();
    const nccl = matchRunbook(
      loaded.runbooks,
      failure({ logExcerpt: '[rank3] NCCL watchdog caught collective operation timeout' }),
    );
    expect(nccl?.id).toBe('nccl-timeout');
    expect(decide({ runbook: nccl, concurrencyCap: 4 })).toMatchObject({ type: 'reduce_concurrency', to: 2 });
  });
});
