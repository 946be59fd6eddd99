import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq, sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Effect, PlanState } from '../../src/core/model.ts';
import { migrationsFolder } from '../../src/db/migrate.ts';
import { outbox, plans } from '../../src/db/schema.ts';
import type { PostgresStore } from '../../src/db/store.ts';
import { createTestDatabase, openReplicaStore, openTestStore, type TestStore } from '../helpers/db.ts';

// Behaviour that only shows with several connections, proven on a real server: two stores here are two
// connection pools, as two `rea serve` replicas would have.

const T0 = '2026-03-02T09:00:00.000Z';
const NOW = new Date(T0);

function minimalPlan(id: string): PlanState {
  return {
    id,
    goal: 'reduce NE',
    status: 'running',
    phase: 'validation',
    step: 'validation',
    spec: {
      model: 'ctr-ranker',
      tags: [],
      metric: { name: 'ne', goal: 'minimize', min_effect: 0.001 },
      guardrails: [],
      knobs: { lr: { type: 'float', min: 1e-5, max: 1e-1, log: true } },
      fidelity: { validation: 0.1, combination: 0.3, exploitation: 1 },
      seeds: { validation: 1, combination: 2, exploitation: 3 },
      gpus: 1,
      usdPerGpuHour: 0,
      timeoutMinutes: 60,
      baselineGpuHours: 1,
      maxGpuHours: 10,
      maxConcurrentRuns: 2,
      approvers: { github: ['alice'], slack: [] },
      baselineConfigFile: 'configs/baseline.yaml',
      workflow: 'rea-experiment.yml',
    },
    baseline: { lr: 0.001 },
    hypotheses: [],
    rejected: [],
    candidates: [],
    runs: [],
    verdicts: [],
    estimate: { phases: [], gpuHoursP50: 0, gpuHoursP90: 0, usdP50: 0, usdP90: 0 },
    budget: { requestedGpuHours: 10, approvedGpuHours: 10 },
    approvals: [],
    decisions: [],
    escalations: [],
    costSamples: [],
    noisePriors: [],
    concurrencyCap: 2,
    seedBase: 1,
    seq: 0,
    createdAt: T0,
    updatedAt: T0,
  };
}

const notify = (key: string): Effect => ({
  type: 'notify',
  topic: 'phase_decision',
  text: key,
  idempotencyKey: key,
});

/** Polls until `check` holds; the server is the only clock that matters here. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

/** Sessions of this database blocked on a lock held by another transaction. */
async function lockWaiters(store: PostgresStore): Promise<number> {
  const [row] = await store.db
    .select({ n: sql<number>`count(*)::int` })
    .from(sql`pg_stat_activity`)
    .where(sql`datname = current_database() and wait_event_type = 'Lock'`);
  return row?.n ?? 0;
}

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL with several replicas', () => {
  let t: TestStore;
  let a: PostgresStore;
  let b: PostgresStore;

  beforeEach(async () => {
    t = await openTestStore();
    a = t.store;
    b = await t.openReplica();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('never hands the same outbox row to two replicas claiming at once', async () => {
    const total = 120;
    // Spread over 40 plans: one plan's rows are performed in order by one worker at a time, so the
    // replicas compete for rows of different plans.
    await a.transaction(async (tx) => {
      for (let i = 0; i < total; i++) await tx.enqueueEffects(`p${i % 40}`, [notify(`k${i}`)], T0);
    });

    // Four workers per replica (pools of five), each claiming small batches and completing them.
    const claimed: number[] = [];
    const worker = async (store: PostgresStore) => {
      for (;;) {
        const items = await store.claimOutbox(3, NOW, 600_000);
        if (items.length === 0) {
          // Rows may be waiting behind another worker's rows of the same plan; stop when none is left.
          if ((await store.outboxBacklog()) === 0) return;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        claimed.push(...items.map((i) => i.id));
        for (const i of items) await store.completeOutbox(i.id, NOW);
      }
    };
    await Promise.all([a, a, a, a, b, b, b, b].map(worker));

    expect(claimed).toHaveLength(total);
    expect(new Set(claimed).size).toBe(total);
    const attempts = await a.db.select({ attempts: outbox.attempts }).from(outbox);
    expect(attempts.every((r) => r.attempts === 1)).toBe(true);
  });

  it('skips rows another replica has locked instead of waiting for them', async () => {
    await a.transaction((tx) => tx.enqueueEffects('p1', [notify('x'), notify('y'), notify('z')], T0));
    const [first] = await a.db.select({ id: outbox.id }).from(outbox).where(eq(outbox.idempotencyKey, 'x'));

    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const hasLock = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // A claim in flight on replica A: its transaction holds row x.
    const holder = a.db.transaction(async (tx) => {
      await tx.select().from(outbox).where(eq(outbox.id, first!.id)).for('update');
      locked();
      await released;
    });
    await hasLock;

    try {
      const items = await b.claimOutbox(10, NOW, 60_000);
      expect(items.map((i) => i.effect.idempotencyKey)).toEqual(['y', 'z']);
    } finally {
      release();
      await holder;
    }
    expect((await b.claimOutbox(10, NOW, 60_000)).map((i) => i.effect.idempotencyKey)).toEqual(['x']);
  });

  it('serializes two transactions that lock the same plan', async () => {
    await a.transaction((tx) => tx.savePlan(minimalPlan('p1')));
    const order: string[] = [];

    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const hasLock = new Promise<void>((resolve) => {
      locked = resolve;
    });

    const first = a.transaction(async (tx) => {
      const state = (await tx.loadPlanForUpdate('p1'))!;
      locked();
      await released;
      await tx.savePlan({ ...state, seq: state.seq + 1 });
      order.push(`a wrote ${state.seq + 1}`);
    });
    await hasLock;
    const second = b.transaction(async (tx) => {
      const state = (await tx.loadPlanForUpdate('p1'))!;
      order.push(`b read ${state.seq}`);
      await tx.savePlan({ ...state, seq: state.seq + 1 });
    });

    try {
      // B is parked on A's row lock until A commits.
      await until(async () => (await lockWaiters(a)) === 1, 'replica B waits for the plan lock');
      expect(order).toEqual([]);
    } finally {
      release();
      await Promise.allSettled([first, second]);
    }
    await Promise.all([first, second]);

    expect(order).toEqual(['a wrote 1', 'b read 1']);
    expect((await a.getPlan('p1'))?.seq).toBe(2);
    const [row] = await a.db.select({ version: plans.version }).from(plans);
    expect(row?.version).toBe(3);
  });

  it('loses no update when both replicas increment one plan many times at once', async () => {
    await a.transaction((tx) => tx.savePlan(minimalPlan('p1')));
    const bump = (store: PostgresStore) =>
      store.transaction(async (tx) => {
        const state = (await tx.loadPlanForUpdate('p1'))!;
        await tx.savePlan({ ...state, seq: state.seq + 1 });
      });
    await Promise.all(Array.from({ length: 20 }, (_, i) => bump(i % 2 === 0 ? a : b)));
    expect((await b.getPlan('p1'))?.seq).toBe(20);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL migrations', () => {
  it('lets several replicas open (and migrate) a fresh database at the same moment', async () => {
    const database = await createTestDatabase();
    const stores: PostgresStore[] = [];
    try {
      const opened = await Promise.allSettled(
        Array.from({ length: 4 }, () => openReplicaStore(database.url)),
      );
      for (const result of opened) if (result.status === 'fulfilled') stores.push(result.value);
      expect(opened.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);

      const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
        entries: unknown[];
      };
      const [applied] = await stores[0]!.db
        .select({ n: sql<number>`count(*)::int` })
        .from(sql`drizzle.__drizzle_migrations`);
      expect(applied?.n).toBe(journal.entries.length);

      // Every replica sees the same, working schema.
      await stores[1]!.transaction((tx) => tx.savePlan(minimalPlan('p1')));
      expect((await stores[3]!.getPlan('p1'))?.goal).toBe('reduce NE');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await database.drop();
    }
  });
});
