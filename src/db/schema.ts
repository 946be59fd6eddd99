import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  doublePrecision,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import type { KnobValues } from '../config/rea-config.ts';
import type { Effect, PlanEvent, PlanState } from '../core/model.ts';

// The plan row holds the whole state (the source of truth, rebuilt after a crash); every other plan table
// is a projection rewritten from it on each save so that people and queries (cost samples, dashboards) can
// read runs and attempts with SQL instead of digging through JSON.

// Numbers are double precision so both drivers hand back JS numbers (numeric would come back as strings).
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const plans = pgTable(
  'plans',
  {
    id: text('id').primaryKey(),
    model: text('model').notNull(),
    goal: text('goal').notNull(),
    status: text('status').$type<PlanState['status']>().notNull(),
    phase: text('phase').$type<PlanState['phase']>().notNull(),
    state: jsonb('state').$type<PlanState>().notNull(),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    version: integer('version').notNull().default(1),
  },
  (t) => [
    index('plans_model_created_idx').on(t.model, t.createdAt),
    index('plans_created_idx').on(t.createdAt),
  ],
);

export const hypotheses = pgTable(
  'hypotheses',
  {
    planId: text('plan_id')
      .notNull()
      .references(() => plans.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    title: text('title').notNull(),
    rationale: text('rationale').notNull(),
    source: text('source').notNull(),
    agent: text('agent').notNull(),
    kind: text('kind').notNull(),
    overrides: jsonb('overrides').$type<KnobValues>().notNull(),
    expectedEffect: doublePrecision('expected_effect').notNull(),
    risk: text('risk').notNull(),
  },
  (t) => [primaryKey({ columns: [t.planId, t.id] })],
);

export const runs = pgTable(
  'runs',
  {
    planId: text('plan_id')
      .notNull()
      .references(() => plans.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    phase: text('phase').notNull(),
    step: text('step').notNull(),
    candidateId: text('candidate_id').notNull(),
    role: text('role').notNull(),
    overrides: jsonb('overrides').$type<KnobValues>().notNull(),
    fidelity: doublePrecision('fidelity').notNull(),
    // Seeds are derived from a plan's seedBase and may not fit in 32 bits.
    seed: bigint('seed', { mode: 'number' }).notNull(),
    status: text('status').notNull(),
    outcome: text('outcome'),
    metrics: jsonb('metrics').$type<Record<string, number>>(),
  },
  // The primary key (plan_id first) serves "runs of a plan".
  (t) => [primaryKey({ columns: [t.planId, t.id] })],
);

export const attempts = pgTable(
  'attempts',
  {
    planId: text('plan_id').notNull(),
    runId: text('run_id').notNull(),
    n: integer('n').notNull(),
    status: text('status').notNull(),
    overrides: jsonb('overrides').$type<KnobValues>().notNull(),
    dispatchedAt: ts('dispatched_at').notNull(),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    externalId: text('external_id'),
    gpuHours: doublePrecision('gpu_hours'),
    durationSec: doublePrecision('duration_sec'),
    conclusion: text('conclusion'),
    reason: text('reason'),
    runbookId: text('runbook_id'),
    runbookAction: text('runbook_action'),
  },
  (t) => [
    primaryKey({ columns: [t.planId, t.runId, t.n] }),
    // Cost samples reach attempts through plans of one model (plans_model_created_idx), then this key's
    // plan_id prefix.
    foreignKey({ columns: [t.planId, t.runId], foreignColumns: [runs.planId, runs.id] }).onDelete('cascade'),
  ],
);

export const metrics = pgTable(
  'metrics',
  {
    planId: text('plan_id').notNull(),
    runId: text('run_id').notNull(),
    name: text('name').notNull(),
    value: doublePrecision('value').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.planId, t.runId, t.name] }),
    foreignKey({ columns: [t.planId, t.runId], foreignColumns: [runs.planId, runs.id] }).onDelete('cascade'),
  ],
);

export const approvals = pgTable(
  'approvals',
  {
    planId: text('plan_id')
      .notNull()
      .references(() => plans.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    kind: text('kind').notNull(),
    by: text('by').notNull(),
    via: text('via').notNull(),
    at: ts('at').notNull(),
    gpuHours: doublePrecision('gpu_hours'),
    note: text('note'),
  },
  (t) => [primaryKey({ columns: [t.planId, t.seq] })],
);

// Append-only. No foreign key: an event may be written before the plan row in the same transaction.
export const events = pgTable(
  'events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    planId: text('plan_id').notNull(),
    type: text('type').notNull(),
    payload: jsonb('payload').$type<PlanEvent | { type: 'plan_created' }>().notNull(),
    at: ts('at').notNull(),
  },
  (t) => [index('events_plan_idx').on(t.planId, t.id)],
);

export type OutboxStatus = 'pending' | 'done' | 'dead';

export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    planId: text('plan_id').notNull(),
    idempotencyKey: text('idempotency_key').notNull().unique(),
    effect: jsonb('effect').$type<Effect>().notNull(),
    status: text('status').$type<OutboxStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    dueAt: ts('due_at').notNull(),
    leasedUntil: ts('leased_until'),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull(),
    doneAt: ts('done_at'),
  },
  (t) => [
    index('outbox_status_due_idx').on(t.status, t.dueAt),
    index('outbox_plan_id_idx').on(t.planId, t.id),
  ],
);

export const webhookDeliveries = pgTable('webhook_deliveries', {
  deliveryId: text('delivery_id').primaryKey(),
  source: text('source').notNull(),
  receivedAt: ts('received_at').notNull(),
});

export const insights = pgTable(
  'insights',
  {
    model: text('model').notNull(),
    changeKey: text('change_key').notNull(),
    fidelity: doublePrecision('fidelity').notNull(),
    tags: text('tags').array().notNull(),
    overrides: jsonb('overrides').$type<KnobValues>().notNull(),
    title: text('title').notNull(),
    /** Identifies the baseline config the effect was measured against; a promotion starts a new reference. */
    baselineKey: text('baseline_key').notNull().default(''),
    /** Why the change was tried (the hypotheses' rationales), searchable with the title and knob names. */
    rationale: text('rationale').notNull().default(''),
    /** Evidence people can open: plan PRs, experiment PRs, reports. */
    links: jsonb('links').$type<string[]>().notNull().default([]),
    meanEffect: doublePrecision('mean_effect').notNull(),
    lo: doublePrecision('lo').notNull(),
    hi: doublePrecision('hi').notNull(),
    nRuns: integer('n_runs').notNull(),
    nPlans: integer('n_plans').notNull(),
    status: text('status').notNull(),
    reason: text('reason').notNull(),
    planIds: jsonb('plan_ids').$type<string[]>().notNull(),
    runIds: jsonb('run_ids').$type<string[]>().notNull(),
    sum: doublePrecision('sum').notNull(),
    sumSq: doublePrecision('sum_sq').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.baselineKey, t.changeKey, t.fidelity] }),
    // Tag overlap (&&) finds insights of sibling models.
    index('insights_tags_idx').using('gin', t.tags),
    // Full-text search over what people ask about: titles, rationales, the changed knobs and values.
    index('insights_search_idx').using(
      'gin',
      sql`to_tsvector('english', ${t.title} || ' ' || ${t.rationale} || ' ' || ${t.changeKey})`,
    ),
  ],
);

/** One row per (Slack channel, week) whose digest was sent: with an advisory lock, makes sending once-only. */
export const digestsSent = pgTable(
  'digests_sent',
  {
    channel: text('channel').notNull(),
    /** Start of the digest's week (ISO date of its Monday in the digest time zone). */
    week: text('week').notNull(),
    sentAt: ts('sent_at').notNull(),
    /** Which replica sent it and the Slack message ts, for people debugging a digest. */
    sentBy: text('sent_by').notNull(),
    messageTs: text('message_ts'),
  },
  (t) => [primaryKey({ columns: [t.channel, t.week] })],
);
