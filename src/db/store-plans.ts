import { and, desc, eq, gt, gte, inArray, or, type SQL, sql } from 'drizzle-orm';
import type { PlanSummary } from '../app/ports.ts';
import type { CostSample, PlanEvent, PlanState } from '../core/model.ts';
import { fromJsonSafe, toJsonSafe } from '../core/serialize.ts';
import { approvals, attempts, events, hypotheses, metrics, plans, runs } from './schema.ts';
import { type Db, insertChunked } from './store-kit.ts';

// Plans and their runs: the plan's state as one JSON document, its events, and the projections (runs,
// attempts, metrics, hypotheses, approvals) rebuilt from it for SQL readers and the cost model.

const toDate = (iso: string | undefined): Date | null => (iso === undefined ? null : new Date(iso));

export async function getPlan(db: Db, planId: string): Promise<PlanState | undefined> {
  const rows = await db.select({ state: plans.state }).from(plans).where(eq(plans.id, planId));
  return rows[0] ? fromJsonSafe<PlanState>(rows[0].state) : undefined;
}

export async function listPlans(
  db: Db,
  filter?: { model?: string; statuses?: PlanState['status'][] },
): Promise<PlanSummary[]> {
  const where: SQL[] = [];
  if (filter?.model !== undefined) where.push(eq(plans.model, filter.model));
  if (filter?.statuses !== undefined) where.push(inArray(plans.status, filter.statuses));
  const rows = await db
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

export async function listPlanStates(db: Db, filter: { since: Date }): Promise<PlanState[]> {
  const open: PlanState['status'][] = ['awaiting_approval', 'running', 'paused'];
  const rows = await db
    .select({ state: plans.state })
    .from(plans)
    .where(or(inArray(plans.status, open), gte(plans.updatedAt, filter.since)))
    .orderBy(desc(plans.createdAt), desc(plans.id));
  return rows.map((r) => fromJsonSafe<PlanState>(r.state));
}

export async function costSamples(db: Db, model: string, limit = 200): Promise<CostSample[]> {
  const rows = await db
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

export async function loadPlanForUpdate(tx: Db, planId: string): Promise<PlanState | undefined> {
  const rows = await tx.select({ state: plans.state }).from(plans).where(eq(plans.id, planId)).for('update');
  return rows[0] ? fromJsonSafe<PlanState>(rows[0].state) : undefined;
}

export async function savePlan(tx: Db, state: PlanState): Promise<void> {
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

export async function appendEvent(
  tx: Db,
  planId: string,
  event: PlanEvent | { type: 'plan_created' },
  at: string,
): Promise<void> {
  await tx.insert(events).values({ planId, type: event.type, payload: event, at: new Date(at) });
}
