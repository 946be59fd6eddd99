import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type {
  DigestRecord,
  InsightRow,
  InsightSearch,
  OutboxItem,
  PlanSummary,
  Store,
  StoreTx,
} from '../app/ports.ts';
import type { CostSample, Effect, PlanEvent, PlanState } from '../core/model.ts';
import { migratePglite, migratePostgres } from './migrate.ts';
import { webhookDeliveries } from './schema.ts';
import * as digestStore from './store-digests.ts';
import * as insightStore from './store-insights.ts';
import type { Db } from './store-kit.ts';
import * as outboxStore from './store-outbox.ts';
import * as planStore from './store-plans.ts';

// The Store port on PostgreSQL and PGlite: opening and migrating the database, and one class that answers
// the port by handing its database (or transaction) to the part that owns each aggregate: plans and runs
// (store-plans.ts), insights (store-insights.ts), digests (store-digests.ts) and the outbox
// (store-outbox.ts).

export type { Db } from './store-kit.ts';

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

  getPlan(planId: string): Promise<PlanState | undefined> {
    return planStore.getPlan(this.db, planId);
  }

  listPlans(filter?: { model?: string; statuses?: PlanState['status'][] }): Promise<PlanSummary[]> {
    return planStore.listPlans(this.db, filter);
  }

  claimOutbox(limit: number, now: Date, leaseMs: number): Promise<OutboxItem[]> {
    return outboxStore.claimOutbox(this.db, limit, now, leaseMs);
  }

  releaseOutbox(id: number): Promise<void> {
    return outboxStore.releaseOutbox(this.db, id);
  }

  completeOutbox(id: number, now: Date): Promise<void> {
    return outboxStore.completeOutbox(this.db, id, now);
  }

  failOutbox(id: number, error: string, retryAt: Date | undefined): Promise<void> {
    return outboxStore.failOutbox(this.db, id, error, retryAt);
  }

  outboxBacklog(): Promise<number> {
    return outboxStore.outboxBacklog(this.db);
  }

  costSamples(model: string, limit = 200): Promise<CostSample[]> {
    return planStore.costSamples(this.db, model, limit);
  }

  listInsights(model: string, tags: string[]): Promise<InsightRow[]> {
    return insightStore.listInsights(this.db, model, tags);
  }

  searchInsights(q: InsightSearch): Promise<InsightRow[]> {
    return insightStore.searchInsights(this.db, q);
  }

  listInsightsUpdated(models: string[], from: Date, to: Date): Promise<InsightRow[]> {
    return insightStore.listInsightsUpdated(this.db, models, from, to);
  }

  listPlanStates(filter: { since: Date }): Promise<PlanState[]> {
    return planStore.listPlanStates(this.db, filter);
  }

  claimDigest(channel: string, week: string, by: string, at: Date): Promise<boolean> {
    return digestStore.claimDigest(this.db, channel, week, by, at);
  }

  confirmDigest(channel: string, week: string, messageTs: string): Promise<void> {
    return digestStore.confirmDigest(this.db, channel, week, messageTs);
  }

  releaseDigest(channel: string, week: string, by: string): Promise<void> {
    return digestStore.releaseDigest(this.db, channel, week, by);
  }

  listDigests(): Promise<DigestRecord[]> {
    return digestStore.listDigests(this.db);
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

  loadPlanForUpdate(planId: string): Promise<PlanState | undefined> {
    return planStore.loadPlanForUpdate(this.tx, planId);
  }

  savePlan(state: PlanState): Promise<void> {
    return planStore.savePlan(this.tx, state);
  }

  appendEvent(planId: string, event: PlanEvent | { type: 'plan_created' }, at: string): Promise<void> {
    return planStore.appendEvent(this.tx, planId, event, at);
  }

  enqueueEffects(planId: string, effects: Effect[], at: string): Promise<void> {
    return outboxStore.enqueueEffects(this.tx, planId, effects, at);
  }

  upsertInsights(rows: InsightRow[]): Promise<void> {
    return insightStore.upsertInsights(this.tx, rows);
  }
}
