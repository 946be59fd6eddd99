import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asc, eq, sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InsightRow } from '../../src/app/ports.ts';
import type { Effect, PlanState } from '../../src/core/model.ts';
import {
  approvals,
  attempts,
  events,
  hypotheses,
  metrics,
  outbox,
  plans,
  runs,
} from '../../src/db/schema.ts';
import { openStore, type PostgresStore } from '../../src/db/store.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';

const T0 = '2026-03-02T09:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

function buildPlan(id: string, model = 'ctr-ranker', over: Partial<PlanState> = {}): PlanState {
  return {
    id,
    goal: 'reduce NE on the new-user segment',
    repo: 'acme/ctr-ranker',
    status: 'running',
    phase: 'validation',
    step: 'validation',
    spec: {
      model,
      tags: ['ranking', 'ctr'],
      metric: { name: 'ne', goal: 'minimize', min_effect: 0.001 },
      guardrails: [{ metric: 'auc', min: 0.7 }],
      knobs: {
        lr: { type: 'float', min: 1e-5, max: 1e-1, log: true },
        layers: { type: 'int', min: 1, max: 8, step: 1 },
        optimizer: { type: 'choice', values: ['adam', 'adagrad'] },
      },
      fidelity: { validation: 0.1, combination: 0.3, exploitation: 1 },
      seeds: { validation: 1, combination: 2, exploitation: 3 },
      gpus: 8,
      usdPerGpuHour: 2.5,
      timeoutMinutes: 720,
      baselineGpuHours: 40,
      maxGpuHours: 200,
      maxConcurrentRuns: 4,
      approvers: { github: ['alice'], slack: [] },
      baselineConfigFile: 'configs/baseline.yaml',
      workflow: 'rea-experiment.yml',
    },
    baseline: { lr: 0.001, layers: 3, optimizer: 'adam' },
    hypotheses: [
      {
        id: 'h1',
        title: 'Raise the learning rate',
        rationale: 'Loss still falling steeply at the end of training',
        source: 'insights',
        agent: 'insights',
        kind: 'config',
        overrides: { lr: 0.003 },
        expectedEffect: 0.004,
        risk: 'low',
        evidence: ['plan p-0 run r-7'],
      },
      {
        id: 'h2',
        title: 'Switch to Adagrad',
        rationale: 'Sparse features dominate the model',
        source: 'research',
        agent: 'offline',
        kind: 'config',
        overrides: { optimizer: 'adagrad' },
        expectedEffect: 0.002,
        risk: 'medium',
        evidence: [],
      },
    ],
    rejected: [
      {
        title: 'Ten layers',
        source: 'user',
        agent: 'user',
        overrides: { layers: 10 },
        reason: 'out of range',
      },
    ],
    candidates: [
      { id: 'c0', step: 'validation', label: 'baseline', hypothesisIds: [], overrides: {} },
      { id: 'c1', step: 'validation', label: 'h1', hypothesisIds: ['h1'], overrides: { lr: 0.003 } },
      {
        id: 'c2',
        step: 'validation',
        label: 'h2',
        hypothesisIds: ['h2'],
        overrides: { optimizer: 'adagrad' },
      },
    ],
    runs: [
      {
        id: 'r1',
        phase: 'validation',
        step: 'validation',
        candidateId: 'c0',
        role: 'baseline',
        overrides: {},
        fidelity: 0.1,
        seed: 3_000_000_001,
        status: 'succeeded',
        attempts: [
          {
            n: 1,
            status: 'succeeded',
            overrides: {},
            dispatchedAt: at(0),
            startedAt: at(1),
            finishedAt: at(60),
            externalId: 'gh-101',
            gpuHours: 4,
            durationSec: 3540,
            conclusion: 'success',
          },
        ],
        maxAttempts: 3,
        estimate: { p50: 4, p90: 5 },
        metrics: { ne: 0.8123, auc: 0.7712 },
        steps: 1000,
      },
      {
        id: 'r2',
        phase: 'validation',
        step: 'validation',
        candidateId: 'c1',
        role: 'candidate',
        overrides: { lr: 0.003 },
        fidelity: 0.1,
        seed: 3_000_000_001,
        status: 'succeeded',
        attempts: [
          {
            n: 1,
            status: 'failed',
            overrides: { lr: 0.003 },
            dispatchedAt: at(0),
            startedAt: at(1),
            finishedAt: at(20),
            externalId: 'gh-102',
            gpuHours: 1.5,
            durationSec: 1140,
            conclusion: 'failure',
            reason: 'CUDA out of memory',
            logExcerpt: 'RuntimeError: CUDA out of memory',
            runbook: { id: 'oom', action: 'retry_with_overrides', note: 'halved the batch size' },
          },
          {
            n: 2,
            status: 'succeeded',
            overrides: { lr: 0.003, batch_size: 256 },
            dispatchedAt: at(21),
            startedAt: at(22),
            finishedAt: at(90),
            externalId: 'gh-103',
            gpuHours: 5,
            durationSec: 4080,
            conclusion: 'success',
          },
        ],
        maxAttempts: 3,
        estimate: { p50: 4, p90: 5 },
        metrics: { ne: 0.8071, auc: 0.7731, grad_norm: Number.NaN },
        steps: 1000,
        outcome: 'retried after OOM',
      },
      {
        id: 'r3',
        phase: 'validation',
        step: 'validation',
        candidateId: 'c2',
        role: 'candidate',
        overrides: { optimizer: 'adagrad' },
        fidelity: 0.1,
        seed: 3_000_000_001,
        status: 'running',
        attempts: [
          {
            n: 1,
            status: 'running',
            overrides: { optimizer: 'adagrad' },
            dispatchedAt: at(0),
            startedAt: at(2),
          },
        ],
        maxAttempts: 3,
        estimate: { p50: 4, p90: 5 },
      },
    ],
    verdicts: [],
    estimate: {
      phases: [
        {
          name: 'validation',
          runs: 3,
          fidelity: 0.1,
          seeds: 1,
          gpuHoursP50: 12,
          gpuHoursP90: 15,
          usdP50: 30,
          usdP90: 37.5,
        },
      ],
      gpuHoursP50: 12,
      gpuHoursP90: 15,
      usdP50: 30,
      usdP90: 37.5,
    },
    budget: { requestedGpuHours: 150, approvedGpuHours: 150 },
    approvals: [{ kind: 'approve', by: 'U123', via: 'slack', at: at(-5), gpuHours: 150, note: 'go' }],
    decisions: [{ at: at(-5), phase: 'validation', step: 'validation', text: 'dispatched 3 runs' }],
    escalations: [],
    costSamples: [
      { gpuHours: 38.5, fidelity: 1 },
      { gpuHours: 4.1, fidelity: 0.1 },
    ],
    noisePriors: [{ fidelity: 0.1, sd: 0.004, df: 10 }],
    concurrencyCap: 4,
    seedBase: 3_000_000_000,
    seq: 7,
    createdAt: at(-10),
    updatedAt: at(90),
    ...over,
  };
}

function insight(over: Partial<InsightRow> = {}): InsightRow {
  return {
    model: 'ctr-ranker',
    tags: ['ranking', 'ctr'],
    changeKey: 'lr=0.003',
    overrides: { lr: 0.003 },
    title: 'Raise the learning rate',
    baselineKey: 'lr=0.001',
    rationale: 'warmup makes a larger rate stable',
    links: ['https://github.com/acme/ranker/pull/7'],
    fidelity: 0.1,
    meanEffect: 0.0064,
    lo: 0.001,
    hi: 0.0118,
    nRuns: 2,
    nPlans: 1,
    status: 'win',
    reason: 'interval above zero',
    planIds: ['p1'],
    runIds: ['r2'],
    sum: 0.0128,
    sumSq: 0.0001,
    updatedAt: at(100),
    ...over,
  };
}

const notify = (key: string): Effect => ({
  type: 'notify',
  topic: 'phase_decision',
  text: key,
  idempotencyKey: key,
});

describe('PostgresStore', () => {
  let t: TestStore;
  let store: PostgresStore;

  beforeEach(async () => {
    t = await openTestStore();
    store = t.store;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  async function save(state: PlanState) {
    await store.transaction(async (tx) => {
      await tx.savePlan(state);
    });
  }

  it('opens on the backend the environment selects', () => {
    expect(store.kind).toBe(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  });

  it('round-trips a plan state through savePlan and getPlan', async () => {
    const state = buildPlan('p1');
    await save(state);
    const loaded = await store.getPlan('p1');
    // Everything survives exactly, including the NaN metric that plain JSON would turn into null.
    expect(loaded).toEqual(state);
    expect(loaded!.runs[1]!.metrics!.grad_norm).toBeNaN();
    expect(await store.getPlan('nope')).toBeUndefined();

    // Stored as a JSON object that SQL can query, not as a string holding JSON.
    const [row] = await store.db
      .select({ kind: sql<string>`jsonb_typeof(${plans.state})`, goal: sql<string>`${plans.state}->>'goal'` })
      .from(plans);
    expect(row).toEqual({ kind: 'object', goal: state.goal });
  });

  it('writes the projections and rewrites them on each save', async () => {
    await save(buildPlan('p1'));
    const { db } = store;

    const hyps = await db.select().from(hypotheses).orderBy(asc(hypotheses.id));
    expect(hyps).toEqual([
      {
        planId: 'p1',
        id: 'h1',
        title: 'Raise the learning rate',
        rationale: 'Loss still falling steeply at the end of training',
        source: 'insights',
        agent: 'insights',
        kind: 'config',
        overrides: { lr: 0.003 },
        expectedEffect: 0.004,
        risk: 'low',
      },
      expect.objectContaining({ id: 'h2', overrides: { optimizer: 'adagrad' }, expectedEffect: 0.002 }),
    ]);

    const runRows = await db.select().from(runs).where(eq(runs.planId, 'p1')).orderBy(asc(runs.id));
    expect(runRows.map((r) => [r.id, r.status, r.fidelity, r.seed, r.role])).toEqual([
      ['r1', 'succeeded', 0.1, 3_000_000_001, 'baseline'],
      ['r2', 'succeeded', 0.1, 3_000_000_001, 'candidate'],
      ['r3', 'running', 0.1, 3_000_000_001, 'candidate'],
    ]);
    expect(runRows[1]).toMatchObject({ outcome: 'retried after OOM', overrides: { lr: 0.003 } });
    expect(runRows[2]).toMatchObject({ outcome: null, metrics: null });

    const attemptRows = await db.select().from(attempts).orderBy(asc(attempts.runId), asc(attempts.n));
    expect(attemptRows).toHaveLength(4);
    expect(attemptRows[1]).toEqual({
      planId: 'p1',
      runId: 'r2',
      n: 1,
      status: 'failed',
      overrides: { lr: 0.003 },
      dispatchedAt: new Date(at(0)),
      startedAt: new Date(at(1)),
      finishedAt: new Date(at(20)),
      externalId: 'gh-102',
      gpuHours: 1.5,
      durationSec: 1140,
      conclusion: 'failure',
      reason: 'CUDA out of memory',
      runbookId: 'oom',
      runbookAction: 'retry_with_overrides',
    });
    expect(attemptRows[3]).toMatchObject({ runId: 'r3', finishedAt: null, gpuHours: null, conclusion: null });

    const metricRows = await db.select().from(metrics).orderBy(asc(metrics.runId), asc(metrics.name));
    // The NaN metric stays out of the table.
    expect(metricRows.map((m) => [m.runId, m.name, m.value])).toEqual([
      ['r1', 'auc', 0.7712],
      ['r1', 'ne', 0.8123],
      ['r2', 'auc', 0.7731],
      ['r2', 'ne', 0.8071],
    ]);

    expect(await db.select().from(approvals)).toEqual([
      {
        planId: 'p1',
        seq: 0,
        kind: 'approve',
        by: 'U123',
        via: 'slack',
        at: new Date(at(-5)),
        gpuHours: 150,
        note: 'go',
      },
    ]);

    // A later save replaces the projections rather than adding to them.
    const next = buildPlan('p1', 'ctr-ranker', { status: 'paused', updatedAt: at(120) });
    next.runs = next.runs.slice(0, 2);
    next.hypotheses = next.hypotheses.slice(0, 1);
    next.approvals.push({ kind: 'pause', by: 'U123', via: 'slack', at: at(119) });
    await save(next);
    expect(await db.select().from(runs)).toHaveLength(2);
    expect(await db.select().from(attempts)).toHaveLength(3);
    expect(await db.select().from(hypotheses)).toHaveLength(1);
    expect((await db.select().from(approvals).orderBy(asc(approvals.seq))).map((a) => a.kind)).toEqual([
      'approve',
      'pause',
    ]);
    expect((await store.getPlan('p1'))?.status).toBe('paused');
  });

  it('lists plans newest first, filtered by model and status', async () => {
    await save(buildPlan('p1', 'ctr-ranker', { createdAt: at(0), updatedAt: at(5) }));
    await save(buildPlan('p2', 'ctr-ranker', { createdAt: at(10), status: 'completed', updatedAt: at(15) }));
    await save(buildPlan('p3', 'feed-ranker', { createdAt: at(20), updatedAt: at(25) }));

    const all = await store.listPlans();
    expect(all.map((p) => p.id)).toEqual(['p3', 'p2', 'p1']);
    expect(all[0]).toEqual({
      id: 'p3',
      model: 'feed-ranker',
      goal: 'reduce NE on the new-user segment',
      status: 'running',
      phase: 'validation',
      createdAt: at(20),
      updatedAt: at(25),
    });
    expect((await store.listPlans({ model: 'ctr-ranker' })).map((p) => p.id)).toEqual(['p2', 'p1']);
    expect((await store.listPlans({ statuses: ['running', 'paused'] })).map((p) => p.id)).toEqual([
      'p3',
      'p1',
    ]);
    expect(
      (await store.listPlans({ model: 'ctr-ranker', statuses: ['completed'] })).map((p) => p.id),
    ).toEqual(['p2']);
  });

  it('rolls a transaction back when it throws', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.savePlan(buildPlan('p1'));
        await tx.appendEvent('p1', { type: 'plan_created' }, at(0));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.getPlan('p1')).toBeUndefined();
    expect(await store.db.select().from(events)).toEqual([]);
  });

  it('locks and reloads a plan inside a transaction', async () => {
    await save(buildPlan('p1'));
    const seq = await store.transaction(async (tx) => {
      const state = await tx.loadPlanForUpdate('p1');
      expect(await tx.loadPlanForUpdate('missing')).toBeUndefined();
      await tx.savePlan({ ...state!, seq: state!.seq + 1 });
      return state!.seq + 1;
    });
    expect(seq).toBe(8);
    expect((await store.getPlan('p1'))?.seq).toBe(8);
  });

  it('appends events in order', async () => {
    await store.transaction(async (tx) => {
      await tx.savePlan(buildPlan('p1'));
      await tx.appendEvent('p1', { type: 'plan_created' }, at(0));
      await tx.appendEvent('p1', { type: 'approved', by: 'U123', via: 'slack', gpuHours: 150 }, at(1));
    });
    await store.transaction((tx) =>
      tx.appendEvent('p1', { type: 'run_started', runId: 'r1', attempt: 1 }, at(2)),
    );
    const rows = await store.db.select().from(events).where(eq(events.planId, 'p1')).orderBy(asc(events.id));
    expect(rows.map((e) => [e.type, e.payload, e.at.toISOString()])).toEqual([
      ['plan_created', { type: 'plan_created' }, at(0)],
      ['approved', { type: 'approved', by: 'U123', via: 'slack', gpuHours: 150 }, at(1)],
      ['run_started', { type: 'run_started', runId: 'r1', attempt: 1 }, at(2)],
    ]);
  });

  describe('outbox', () => {
    const now = new Date(at(0));

    async function enqueue(effects: Effect[], when = at(0), planId = 'p1') {
      await store.transaction((tx) => tx.enqueueEffects(planId, effects, when));
    }

    it('adds an effect once per idempotency key', async () => {
      const dispatch: Effect = {
        type: 'dispatch_run',
        runId: 'r1',
        attempt: 1,
        overrides: { lr: 0.003 },
        fidelity: 0.1,
        seed: 7,
        idempotencyKey: 'p1:r1:1',
      };
      await enqueue([dispatch, notify('n1')]);
      await enqueue([{ ...dispatch, seed: 8 }]);
      await enqueue([notify('n2'), notify('n2')]);
      await enqueue([]);
      const rows = await store.db.select().from(outbox).orderBy(asc(outbox.id));
      expect(rows.map((r) => r.idempotencyKey)).toEqual(['p1:r1:1', 'n1', 'n2']);
      expect(rows[0]?.effect).toEqual(dispatch);
      expect(rows[0]).toMatchObject({
        planId: 'p1',
        status: 'pending',
        attempts: 0,
        dueAt: now,
        leasedUntil: null,
      });
      expect(await store.outboxBacklog()).toBe(3);
    });

    it('claims due rows in order, leases them, and retries, completes or buries them', async () => {
      await enqueue([notify('a'), notify('b')]);
      await enqueue([notify('c')], at(0), 'p2');
      await enqueue([notify('later')], at(30));

      const first = await store.claimOutbox(2, now, 60_000);
      expect(first.map((i) => [i.effect.idempotencyKey, i.attempts, i.planId])).toEqual([
        ['a', 1, 'p1'],
        ['b', 1, 'p1'],
      ]);
      // Per-plan order: a row of p1 behind rows of p1 leased elsewhere waits (checked again below).
      expect(first[0]!.id).toBeLessThan(first[1]!.id);
      // Leased rows are not handed out again while the lease lasts; rows not yet due never are.
      const second = await store.claimOutbox(10, now, 60_000);
      expect(second.map((i) => i.effect.idempotencyKey)).toEqual(['c']);
      expect(await store.claimOutbox(10, new Date(at(0.5)), 60_000)).toEqual([]);
      expect(await store.claimOutbox(0, new Date(at(5)), 60_000)).toEqual([]);

      const [a, b] = first;
      await store.completeOutbox(a!.id, new Date(at(0.2)));
      await store.failOutbox(b!.id, 'slack 503', new Date(at(10)));
      await store.failOutbox(second[0]!.id, 'invalid_blocks', undefined);
      expect(await store.outboxBacklog()).toBe(2);

      const rowA = (await store.db.select().from(outbox).where(eq(outbox.id, a!.id)))[0];
      expect(rowA).toMatchObject({ status: 'done', doneAt: new Date(at(0.2)), leasedUntil: null });
      const rowC = (await store.db.select().from(outbox).where(eq(outbox.id, second[0]!.id)))[0];
      expect(rowC).toMatchObject({ status: 'dead', lastError: 'invalid_blocks', leasedUntil: null });

      // The failed row waits for its retry time even though its lease is gone.
      expect(await store.claimOutbox(10, new Date(at(5)), 60_000)).toEqual([]);
      const retried = await store.claimOutbox(10, new Date(at(10)), 60_000);
      expect(retried.map((i) => [i.effect.idempotencyKey, i.attempts])).toEqual([['b', 2]]);
      const rowB = (await store.db.select().from(outbox).where(eq(outbox.id, b!.id)))[0];
      expect(rowB).toMatchObject({
        status: 'pending',
        lastError: 'slack 503',
        leasedUntil: new Date(at(11)),
      });

      // A lease that ran out makes the row claimable again (the worker holding it died).
      const later = await store.claimOutbox(10, new Date(at(40)), 60_000);
      expect(later.map((i) => [i.effect.idempotencyKey, i.attempts])).toEqual([
        ['b', 3],
        ['later', 1],
      ]);

      // A late failure report must not resurrect a row that another worker completed.
      await store.completeOutbox(b!.id, new Date(at(41)));
      await store.failOutbox(b!.id, 'stale worker', undefined);
      expect((await store.db.select().from(outbox).where(eq(outbox.id, b!.id)))[0]?.status).toBe('done');
      expect(await store.outboxBacklog()).toBe(1);
    });

    it('keeps each plan in order: nothing is claimed behind an earlier row of its plan that waits or is leased', async () => {
      await enqueue([notify('p1-a'), notify('p1-b')]);
      await enqueue([notify('p2-a')], at(0), 'p2');
      const [a] = await store.claimOutbox(1, now, 60_000);
      expect(a!.effect.idempotencyKey).toBe('p1-a');
      // p1-b is behind the leased p1-a; p2 goes on.
      const other = await store.claimOutbox(10, now, 60_000);
      expect(other.map((i) => i.effect.idempotencyKey)).toEqual(['p2-a']);
      await store.completeOutbox(other[0]!.id, now);
      await store.failOutbox(a!.id, 'slack 429', new Date(at(10)));
      // p1-a now waits for its retry: p1-b still waits behind it.
      expect(await store.claimOutbox(10, new Date(at(5)), 60_000)).toEqual([]);
      // A released row goes back untried.
      const again = await store.claimOutbox(10, new Date(at(10)), 60_000);
      expect(again.map((i) => [i.effect.idempotencyKey, i.attempts])).toEqual([
        ['p1-a', 2],
        ['p1-b', 1],
      ]);
      await store.releaseOutbox(again[1]!.id);
      expect((await store.db.select().from(outbox).where(eq(outbox.id, again[1]!.id)))[0]).toMatchObject({
        attempts: 0,
        leasedUntil: null,
      });
    });
  });

  it('computes cost samples (GPU-hours and fidelity) from succeeded attempts of the model, newest first', async () => {
    await save(buildPlan('p1'));
    const other = buildPlan('p2');
    // Full fidelity, finished later than anything in p1.
    other.runs = [
      {
        ...other.runs[0]!,
        fidelity: 1,
        attempts: [{ ...other.runs[0]!.attempts[0]!, finishedAt: at(500), gpuHours: 42 }],
      },
      {
        ...other.runs[2]!,
        fidelity: 0.5,
        status: 'failed',
        attempts: [
          // A failure that burnt no GPU time says nothing about cost.
          {
            n: 1,
            status: 'failed',
            overrides: {},
            dispatchedAt: at(0),
            finishedAt: at(1),
            gpuHours: 0,
            conclusion: 'startup_failure',
          },
          { n: 2, status: 'cancelled', overrides: {}, dispatchedAt: at(2), finishedAt: at(3), gpuHours: 2 },
        ],
      },
    ];
    await save(other);
    await save(buildPlan('p3', 'feed-ranker'));

    const samples = await store.costSamples('ctr-ranker');
    // p2 r1 (42 at 1), p1 r2#2 (5 at 0.1), p1 r1 (4 at 0.1); failed attempts say nothing about run length.
    expect(samples).toEqual([
      { gpuHours: 42, fidelity: 1 },
      { gpuHours: 5, fidelity: 0.1 },
      { gpuHours: 4, fidelity: 0.1 },
    ]);
    expect((await store.costSamples('ctr-ranker', 2)).length).toBe(2);
    expect(await store.costSamples('unknown-model')).toEqual([]);
    expect(await store.costSamples('feed-ranker')).toHaveLength(2);
  });

  it('upserts insights and finds them by model or shared tag', async () => {
    await store.transaction((tx) =>
      tx.upsertInsights([
        insight(),
        insight({ changeKey: 'lr=0.003', fidelity: 0.3, nRuns: 4 }),
        insight({ model: 'feed-ranker', tags: ['ranking', 'feed'], changeKey: 'optimizer=adagrad' }),
        insight({ model: 'search-ranker', tags: ['search'], changeKey: 'layers=4' }),
      ]),
    );
    // Pooling a later plan updates the row in place.
    const pooled = insight({
      nRuns: 4,
      nPlans: 2,
      planIds: ['p1', 'p2'],
      runIds: ['r2', 'r9'],
      sum: 0.02,
      sumSq: 0.00015,
      status: 'null',
      updatedAt: at(200),
    });
    await store.transaction((tx) => tx.upsertInsights([pooled]));
    await store.transaction((tx) => tx.upsertInsights([]));

    const ctr = await store.listInsights('ctr-ranker', ['ranking', 'ctr']);
    expect(ctr.map((r) => [r.model, r.changeKey, r.fidelity])).toEqual([
      ['ctr-ranker', 'lr=0.003', 0.1],
      ['ctr-ranker', 'lr=0.003', 0.3],
      ['feed-ranker', 'optimizer=adagrad', 0.1],
    ]);
    expect(ctr[0]).toEqual(pooled);

    expect((await store.listInsights('ctr-ranker', [])).map((r) => r.model)).toEqual([
      'ctr-ranker',
      'ctr-ranker',
    ]);
    expect((await store.listInsights('new-model', ['search'])).map((r) => r.model)).toEqual([
      'search-ranker',
    ]);
    expect(await store.listInsights('new-model', ['vision'])).toEqual([]);
  });

  it('records a webhook delivery once', async () => {
    expect(await store.recordDelivery('d-1', 'github', new Date(at(0)))).toBe(true);
    expect(await store.recordDelivery('d-1', 'github', new Date(at(1)))).toBe(false);
    expect(await store.recordDelivery('d-2', 'slack', new Date(at(1)))).toBe(true);
  });
});

describe('PGlite on disk', () => {
  it('keeps data across close and reopen, and migrating again is harmless', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rea-store-'));
    try {
      const first = await openStore({ dataDir });
      expect(first.kind).toBe('pglite');
      await first.transaction(async (tx) => {
        await tx.savePlan(buildPlan('p1'));
        await tx.enqueueEffects('p1', [notify('n1')], at(0));
      });
      await first.close();
      await first.close();

      const second = await openStore({ dataDir });
      try {
        expect((await second.getPlan('p1'))?.goal).toBe('reduce NE on the new-user segment');
        expect(await second.outboxBacklog()).toBe(1);
        expect(await second.db.select().from(runs)).toHaveLength(3);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
