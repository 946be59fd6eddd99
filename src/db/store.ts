import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import {
  and,
  arrayOverlaps,
  asc,
  count,
  desc,
  eq,
  gt,
  gte,
  inArray,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
} from 'drizzle-orm';
import type { PgColumn, PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type {
  DigestRecord,
  InsightRow,
  InsightSearch,
  InsightStatus,
  OutboxItem,
  PlanSummary,
  Store,
  StoreTx,
} from '../app/ports.ts';
import {
  type CostSample,
  type Effect,
  MESSAGE_EFFECT_TYPES,
  type PlanEvent,
  type PlanState,
} from '../core/model.ts';
import { fromJsonSafe, toJsonSafe } from '../core/serialize.ts';
import { migratePglite, migratePostgres } from './migrate.ts';
import {
  approvals,
  attempts,
  digestsSent,
  events,
  hypotheses,
  insights,
  metrics,
  outbox,
  plans,
  runs,
  webhookDeliveries,
} from './schema.ts';

/** A drizzle database or transaction on either driver; the store only uses what both have in common. */

const MESSAGE_EFFECTS = MESSAGE_EFFECT_TYPES.map((t) => `'${t}'`).join(', ');

export type Db = PgDatabase<PgQueryResultHKT>;

export interface OpenStoreOptions {
  /** A PostgreSQL URL; without it the store is an embedded PGlite database. */
  databaseUrl?: string;
  /** Where PGlite keeps its files (`<dataDir>/db`); `:memory:` keeps nothing (tests). */
  dataDir: string;
}

/**
 * Opens the store and brings its schema up to date. Several processes may open the same PostgreSQL
 * database at once (replicas); a PGlite directory belongs to one process.
 */
export async function openStore(opts: OpenStoreOptions): Promise<PostgresStore> {
  if (opts.databaseUrl) {
    await migratePostgres(opts.databaseUrl);
    const client = postgres(opts.databaseUrl, { max: 5, onnotice: () => {} });
    const db: Db = drizzlePostgres({ client });
    return new PostgresStore('postgres', db, () => client.end({ timeout: 5 }));
  }
  if (opts.dataDir === ':memory:') return openPgliteStore(new PGlite());
  const dir = join(opts.dataDir, 'db');
  mkdirSync(dir, { recursive: true });
  return openPgliteStore(new PGlite(dir));
}

/** Wraps a PGlite instance (owned by the store from now on, closed with it) after migrating it. */
export async function openPgliteStore(pglite: PGlite): Promise<PostgresStore> {
  const db = drizzlePglite({ client: pglite });
  try {
    await migratePglite(db);
  } catch (err) {
    await pglite.close();
    throw err;
  }
  return new PostgresStore('pglite', db, () => pglite.close());
}

// Keeps each multi-row insert well under PostgreSQL's 65535 bind parameters.
const CHUNK_ROWS = 500;

async function insertChunked<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) {
    await insert(rows.slice(i, i + CHUNK_ROWS));
  }
}

/** First key of the two-int advisory locks rea takes for digests (the second is a hash of channel and week). */
const DIGEST_LOCK_CLASS = 0x7265_6164; // 'read'

const toDate = (iso: string | undefined): Date | null => (iso === undefined ? null : new Date(iso));

/** `excluded.<column>` for ON CONFLICT DO UPDATE: the value the conflicting insert proposed. */
const excluded = (column: PgColumn): SQL => sql.raw(`excluded."${column.name}"`);

function toInsightRow(r: typeof insights.$inferSelect): InsightRow {
  return {
    model: r.model,
    tags: r.tags,
    changeKey: r.changeKey,
    overrides: r.overrides,
    title: r.title,
    baselineKey: r.baselineKey,
    rationale: r.rationale,
    links: r.links,
    fidelity: r.fidelity,
    meanEffect: r.meanEffect,
    lo: r.lo,
    hi: r.hi,
    nRuns: r.nRuns,
    nPlans: r.nPlans,
    status: r.status as InsightStatus,
    reason: r.reason,
    planIds: r.planIds,
    runIds: r.runIds,
    sum: r.sum,
    sumSq: r.sumSq,
    updatedAt: r.updatedAt.toISOString(),
  };
}

/** One PlanState-backed store for both PostgreSQL (postgres.js) and PGlite: they speak the same SQL. */
export class PostgresStore implements Store {
  private closed = false;

  constructor(
    readonly kind: 'postgres' | 'pglite',
    /** The underlying drizzle database, for tests and ad-hoc reads of the projections. */
    readonly db: Db,
    private readonly closeClient: () => Promise<void>,
  ) {}

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PostgresStoreTx(tx)));
  }

  async getPlan(planId: string): Promise<PlanState | undefined> {
    const rows = await this.db.select({ state: plans.state }).from(plans).where(eq(plans.id, planId));
    return rows[0] ? fromJsonSafe<PlanState>(rows[0].state) : undefined;
  }

  async listPlans(filter?: { model?: string; statuses?: PlanState['status'][] }): Promise<PlanSummary[]> {
    const where: SQL[] = [];
    if (filter?.model !== undefined) where.push(eq(plans.model, filter.model));
    if (filter?.statuses !== undefined) where.push(inArray(plans.status, filter.statuses));
    const rows = await this.db
      .select({
        id: plans.id,
        model: plans.model,
        goal: plans.goal,
        status: plans.status,
        phase: plans.phase,
        createdAt: plans.createdAt,
        updatedAt: plans.updatedAt,
      })
      .from(plans)
      .where(and(...where))
      .orderBy(desc(plans.createdAt), desc(plans.id));
    return rows.map((r) => ({
      ...r,
      createdAt: r.createdAt.toISOString(),
      updatedAt: r.updatedAt.toISOString(),
    }));
  }

  async claimOutbox(limit: number, now: Date, leaseMs: number): Promise<OutboxItem[]> {
    if (limit <= 0) return [];
    return this.db.transaction(async (tx) => {
      const due = await tx
        .select({ id: outbox.id })
        .from(outbox)
        .where(
          and(
            eq(outbox.status, 'pending'),
            lte(outbox.dueAt, now),
            or(isNull(outbox.leasedUntil), lt(outbox.leasedUntil, now)),
            // What people read of a plan (its thread, its PR comments) is delivered in order: a message is
            // not claimed behind an earlier message of the same plan that waits for its retry or is being
            // sent elsewhere. Runs (dispatch, cancel, collect) never wait for messages, so a plan keeps
            // moving while Slack is down.
            sql`(${outbox.effect}->>'type' not in (${sql.raw(MESSAGE_EFFECTS)}) or not exists (select 1 from outbox o2 where o2.plan_id = ${outbox.planId} and o2.status = 'pending' and o2.id < ${outbox.id} and o2.effect->>'type' in (${sql.raw(MESSAGE_EFFECTS)}) and (o2.due_at > ${now.toISOString()}::timestamptz or (o2.leased_until is not null and o2.leased_until >= ${now.toISOString()}::timestamptz))))`,
          ),
        )
        .orderBy(asc(outbox.id))
        .limit(limit)
        .for('update', { skipLocked: true });
      if (due.length === 0) return [];
      const claimed = await tx
        .update(outbox)
        .set({ leasedUntil: new Date(now.getTime() + leaseMs), attempts: sql`${outbox.attempts} + 1` })
        .where(
          inArray(
            outbox.id,
            due.map((r) => r.id),
          ),
        )
        .returning({
          id: outbox.id,
          planId: outbox.planId,
          effect: outbox.effect,
          attempts: outbox.attempts,
        });
      return claimed.sort((a, b) => a.id - b.id);
    });
  }

  async releaseOutbox(id: number): Promise<void> {
    await this.db
      .update(outbox)
      .set({ leasedUntil: null, attempts: sql`greatest(${outbox.attempts} - 1, 0)` })
      .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
  }

  async completeOutbox(id: number, now: Date): Promise<void> {
    await this.db
      .update(outbox)
      .set({ status: 'done', doneAt: now, leasedUntil: null })
      .where(eq(outbox.id, id));
  }

  async failOutbox(id: number, error: string, retryAt: Date | undefined): Promise<void> {
    const change =
      retryAt === undefined
        ? { status: 'dead' as const, lastError: error, leasedUntil: null }
        : { lastError: error, dueAt: retryAt, leasedUntil: null };
    // Only a pending row: a worker whose lease ran out must not undo another worker's completion.
    await this.db
      .update(outbox)
      .set(change)
      .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
  }

  async outboxBacklog(): Promise<number> {
    const rows = await this.db.select({ n: count() }).from(outbox).where(eq(outbox.status, 'pending'));
    return rows[0]?.n ?? 0;
  }

  async costSamples(model: string, limit = 200): Promise<CostSample[]> {
    const rows = await this.db
      .select({ gpuHours: attempts.gpuHours, fidelity: runs.fidelity })
      .from(attempts)
      .innerJoin(runs, and(eq(runs.planId, attempts.planId), eq(runs.id, attempts.runId)))
      .innerJoin(plans, eq(plans.id, attempts.planId))
      .where(
        and(
          eq(plans.model, model),
          gt(runs.fidelity, 0),
          // Only finished runs say how long a run takes; a failure's time depends on when it failed.
          eq(attempts.status, 'succeeded'),
        ),
      )
      .orderBy(
        desc(sql`coalesce(${attempts.finishedAt}, ${attempts.dispatchedAt})`),
        desc(attempts.planId),
        desc(attempts.runId),
        desc(attempts.n),
      )
      .limit(limit);
    // An attempt that never reported its GPU time says nothing about cost.
    return rows.flatMap((r) => (r.gpuHours === null ? [] : [{ gpuHours: r.gpuHours, fidelity: r.fidelity }]));
  }

  async listInsights(model: string, tags: string[]): Promise<InsightRow[]> {
    const match =
      tags.length > 0
        ? or(eq(insights.model, model), arrayOverlaps(insights.tags, tags))
        : eq(insights.model, model);
    const rows = await this.db
      .select()
      .from(insights)
      .where(match)
      .orderBy(asc(insights.model), asc(insights.changeKey), asc(insights.fidelity));
    return rows.map(toInsightRow);
  }

  async searchInsights(q: InsightSearch): Promise<InsightRow[]> {
    const where: SQL[] = [];
    const scope: SQL[] = [];
    if (q.model !== undefined) scope.push(eq(insights.model, q.model));
    if (q.repo !== undefined) {
      // Plans know their repository; insights know their model. A repo's models are those of its plans.
      scope.push(
        inArray(
          insights.model,
          this.db.select({ model: plans.model }).from(plans).where(sql`${plans.state}->>'repo' = ${q.repo}`),
        ),
      );
    }
    if (q.tags && q.tags.length > 0) scope.push(arrayOverlaps(insights.tags, q.tags));
    if (scope.length > 0) where.push(or(...scope)!);
    let text = q.text?.trim() ?? '';
    const query = sql`websearch_to_tsquery('english', ${text})`;
    if (text !== '') {
      // Text of stop words only has no lexemes; it then filters nothing rather than hiding everything.
      // Asked apart, so that the match below stays a plain `@@` the GIN index can serve.
      // (With no insight at all there is nothing to find either way.)
      const probe = await this.db
        .select({ n: sql<number>`numnode(${query})`.mapWith(Number) })
        .from(insights)
        .limit(1);
      if ((probe[0]?.n ?? 0) === 0) text = '';
    }
    // The expression is the one the GIN index is built on (migration 0002), so the index serves the match.
    // The english parser splits knob names at '_' into adjacent words (learning_rate -> learn <-> rate),
    // so `learning_rate`, `learning rate` and `learning_rate=0.02` all find a change of that knob.
    const vector = sql`to_tsvector('english', ${insights.title} || ' ' || ${insights.rationale} || ' ' || ${insights.changeKey})`;
    if (text !== '') where.push(sql`${vector} @@ ${query}`);
    const statusOrder = sql`case ${insights.status} when 'win' then 0 when 'loss' then 1 when 'infeasible' then 2 else 3 end`;
    const order: SQL[] = [];
    if (text !== '') order.push(sql`ts_rank(${vector}, ${query}) desc`);
    order.push(
      statusOrder,
      sql`abs(${insights.meanEffect}) desc`,
      desc(insights.fidelity),
      asc(insights.changeKey),
    );
    const rows = await this.db
      .select()
      .from(insights)
      .where(where.length > 0 ? and(...where) : undefined)
      .orderBy(...order)
      .limit(Math.max(1, Math.floor(q.limit)));
    return rows.map(toInsightRow);
  }

  async listInsightsUpdated(models: string[], from: Date, to: Date): Promise<InsightRow[]> {
    if (models.length === 0) return [];
    const rows = await this.db
      .select()
      .from(insights)
      .where(and(inArray(insights.model, models), gte(insights.updatedAt, from), lt(insights.updatedAt, to)))
      .orderBy(asc(insights.model), asc(insights.changeKey), asc(insights.fidelity));
    return rows.map(toInsightRow);
  }

  async listPlanStates(filter: { since: Date }): Promise<PlanState[]> {
    const open: PlanState['status'][] = ['awaiting_approval', 'running', 'paused'];
    const rows = await this.db
      .select({ state: plans.state })
      .from(plans)
      .where(or(inArray(plans.status, open), gte(plans.updatedAt, filter.since)))
      .orderBy(desc(plans.createdAt), desc(plans.id));
    return rows.map((r) => fromJsonSafe<PlanState>(r.state));
  }

  claimDigest(channel: string, week: string, by: string, at: Date): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // The transaction-scoped lock serialises replicas claiming the same digest and is released at commit,
      // so no connection keeps it while Slack is called; the primary key makes a second claim impossible
      // even without it. hashtext is PostgreSQL's own (stable) string hash, present on PGlite too.
      await tx.execute(
        sql`select pg_advisory_xact_lock(${DIGEST_LOCK_CLASS}, hashtext(${channel} || '/' || ${week}))`,
      );
      const inserted = await tx
        .insert(digestsSent)
        .values({ channel, week, sentAt: at, sentBy: by, messageTs: null })
        .onConflictDoNothing()
        .returning({ channel: digestsSent.channel });
      return inserted.length > 0;
    });
  }

  async confirmDigest(channel: string, week: string, messageTs: string): Promise<void> {
    await this.db
      .update(digestsSent)
      .set({ messageTs })
      .where(and(eq(digestsSent.channel, channel), eq(digestsSent.week, week)));
  }

  async releaseDigest(channel: string, week: string, by: string): Promise<void> {
    await this.db
      .delete(digestsSent)
      .where(
        and(
          eq(digestsSent.channel, channel),
          eq(digestsSent.week, week),
          eq(digestsSent.sentBy, by),
          isNull(digestsSent.messageTs),
        ),
      );
  }

  async listDigests(): Promise<DigestRecord[]> {
    const rows = await this.db
      .select()
      .from(digestsSent)
      .orderBy(asc(digestsSent.week), asc(digestsSent.channel));
    return rows.map((r) => ({
      channel: r.channel,
      week: r.week,
      sentAt: r.sentAt.toISOString(),
      sentBy: r.sentBy,
      ...(r.messageTs ? { messageTs: r.messageTs } : {}),
    }));
  }

  async recordDelivery(deliveryId: string, source: string, receivedAt: Date): Promise<boolean> {
    const inserted = await this.db
      .insert(webhookDeliveries)
      .values({ deliveryId, source, receivedAt })
      .onConflictDoNothing()
      .returning({ deliveryId: webhookDeliveries.deliveryId });
    return inserted.length > 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closeClient();
  }
}

class PostgresStoreTx implements StoreTx {
  constructor(private readonly tx: Db) {}

  async loadPlanForUpdate(planId: string): Promise<PlanState | undefined> {
    const rows = await this.tx
      .select({ state: plans.state })
      .from(plans)
      .where(eq(plans.id, planId))
      .for('update');
    return rows[0] ? fromJsonSafe<PlanState>(rows[0].state) : undefined;
  }

  async savePlan(state: PlanState): Promise<void> {
    const { tx } = this;
    const planId = state.id;
    const row = {
      model: state.spec.model,
      goal: state.goal,
      status: state.status,
      phase: state.phase,
      // jsonb has no NaN or Infinity; the statistics use them, so they travel as tagged strings.
      state: toJsonSafe(state) as PlanState,
      updatedAt: new Date(state.updatedAt),
    };
    await tx
      .insert(plans)
      .values({ id: planId, ...row, createdAt: new Date(state.createdAt), version: 1 })
      .onConflictDoUpdate({ target: plans.id, set: { ...row, version: sql`${plans.version} + 1` } });

    // Projections are rebuilt whole: a plan has at most a few hundred runs, and rewriting them is simpler
    // and safer than diffing (runs and approvals only grow, but hypotheses may be edited before approval).
    await tx.delete(metrics).where(eq(metrics.planId, planId));
    await tx.delete(attempts).where(eq(attempts.planId, planId));
    await tx.delete(runs).where(eq(runs.planId, planId));
    await tx.delete(hypotheses).where(eq(hypotheses.planId, planId));
    await tx.delete(approvals).where(eq(approvals.planId, planId));

    const hypothesisRows = state.hypotheses.map((h) => ({
      planId,
      id: h.id,
      title: h.title,
      rationale: h.rationale,
      source: h.source,
      agent: h.agent,
      kind: h.kind,
      overrides: h.overrides,
      expectedEffect: h.expectedEffect,
      risk: h.risk,
    }));
    const runRows = state.runs.map((r) => ({
      planId,
      id: r.id,
      phase: r.phase,
      step: r.step,
      candidateId: r.candidateId,
      role: r.role,
      overrides: r.overrides,
      fidelity: r.fidelity,
      seed: r.seed,
      status: r.status,
      outcome: r.outcome ?? null,
      metrics: r.metrics ?? null,
    }));
    const attemptRows = state.runs.flatMap((r) =>
      r.attempts.map((a) => ({
        planId,
        runId: r.id,
        n: a.n,
        status: a.status,
        overrides: a.overrides,
        dispatchedAt: new Date(a.dispatchedAt),
        startedAt: toDate(a.startedAt),
        finishedAt: toDate(a.finishedAt),
        externalId: a.externalId ?? null,
        gpuHours: a.gpuHours ?? null,
        durationSec: a.durationSec ?? null,
        conclusion: a.conclusion ?? null,
        reason: a.reason ?? null,
        runbookId: a.runbook?.id ?? null,
        runbookAction: a.runbook?.action ?? null,
      })),
    );
    // Non-finite metrics (a diverged run) stay in the state, where the runbooks read them; a SQL reader of
    // this table wants numbers it can average.
    const metricRows = state.runs.flatMap((r) =>
      Object.entries(r.metrics ?? {})
        .filter(([, value]) => Number.isFinite(value))
        .map(([name, value]) => ({ planId, runId: r.id, name, value })),
    );
    const approvalRows = state.approvals.map((a, seq) => ({
      planId,
      seq,
      kind: a.kind,
      by: a.by,
      via: a.via,
      at: new Date(a.at),
      gpuHours: a.gpuHours ?? null,
      note: a.note ?? null,
    }));

    await insertChunked(hypothesisRows, (chunk) => tx.insert(hypotheses).values(chunk));
    await insertChunked(runRows, (chunk) => tx.insert(runs).values(chunk));
    await insertChunked(attemptRows, (chunk) => tx.insert(attempts).values(chunk));
    await insertChunked(metricRows, (chunk) => tx.insert(metrics).values(chunk));
    await insertChunked(approvalRows, (chunk) => tx.insert(approvals).values(chunk));
  }

  async appendEvent(planId: string, event: PlanEvent | { type: 'plan_created' }, at: string): Promise<void> {
    await this.tx.insert(events).values({ planId, type: event.type, payload: event, at: new Date(at) });
  }

  async enqueueEffects(planId: string, effects: Effect[], at: string): Promise<void> {
    const due = new Date(at);
    const rows = effects.map((effect) => ({
      planId,
      idempotencyKey: effect.idempotencyKey,
      effect,
      status: 'pending' as const,
      attempts: 0,
      dueAt: due,
      createdAt: due,
    }));
    await insertChunked(rows, (chunk) =>
      this.tx.insert(outbox).values(chunk).onConflictDoNothing({ target: outbox.idempotencyKey }),
    );
  }

  async upsertInsights(rows: InsightRow[]): Promise<void> {
    // One statement may not update the same row twice, so the last row for a key wins here.
    const byKey = new Map<string, InsightRow>();
    for (const r of rows) byKey.set(JSON.stringify([r.model, r.baselineKey, r.changeKey, r.fidelity]), r);
    const values = [...byKey.values()].map((r) => ({
      model: r.model,
      changeKey: r.changeKey,
      fidelity: r.fidelity,
      tags: r.tags,
      overrides: r.overrides,
      title: r.title,
      baselineKey: r.baselineKey,
      rationale: r.rationale,
      links: r.links,
      meanEffect: r.meanEffect,
      lo: r.lo,
      hi: r.hi,
      nRuns: r.nRuns,
      nPlans: r.nPlans,
      status: r.status,
      reason: r.reason,
      planIds: r.planIds,
      runIds: r.runIds,
      sum: r.sum,
      sumSq: r.sumSq,
      updatedAt: new Date(r.updatedAt),
    }));
    const set = {
      tags: excluded(insights.tags),
      overrides: excluded(insights.overrides),
      title: excluded(insights.title),
      rationale: excluded(insights.rationale),
      links: excluded(insights.links),
      meanEffect: excluded(insights.meanEffect),
      lo: excluded(insights.lo),
      hi: excluded(insights.hi),
      nRuns: excluded(insights.nRuns),
      nPlans: excluded(insights.nPlans),
      status: excluded(insights.status),
      reason: excluded(insights.reason),
      planIds: excluded(insights.planIds),
      runIds: excluded(insights.runIds),
      sum: excluded(insights.sum),
      sumSq: excluded(insights.sumSq),
      updatedAt: excluded(insights.updatedAt),
    };
    await insertChunked(values, (chunk) =>
      this.tx
        .insert(insights)
        .values(chunk)
        .onConflictDoUpdate({
          target: [insights.model, insights.baselineKey, insights.changeKey, insights.fidelity],
          set,
        }),
    );
  }
}
