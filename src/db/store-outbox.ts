import { and, asc, count, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { OutboxItem } from '../app/ports.ts';
import { type Effect, MESSAGE_EFFECT_TYPES } from '../core/model.ts';
import { outbox } from './schema.ts';
import { type Db, insertChunked } from './store-kit.ts';

// The outbox: effects enqueued with the transition that decided them, claimed by workers under a lease,
// and completed, retried or given up.

const MESSAGE_EFFECTS = MESSAGE_EFFECT_TYPES.map((t) => `'${t}'`).join(', ');

export async function enqueueEffects(tx: Db, planId: string, effects: Effect[], at: string): Promise<void> {
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
    tx.insert(outbox).values(chunk).onConflictDoNothing({ target: outbox.idempotencyKey }),
  );
}

export async function claimOutbox(db: Db, limit: number, now: Date, leaseMs: number): Promise<OutboxItem[]> {
  if (limit <= 0) return [];
  return db.transaction(async (tx) => {
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

export async function releaseOutbox(db: Db, id: number): Promise<void> {
  await db
    .update(outbox)
    .set({ leasedUntil: null, attempts: sql`greatest(${outbox.attempts} - 1, 0)` })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
}

export async function completeOutbox(db: Db, id: number, now: Date): Promise<void> {
  await db.update(outbox).set({ status: 'done', doneAt: now, leasedUntil: null }).where(eq(outbox.id, id));
}

export async function failOutbox(
  db: Db,
  id: number,
  error: string,
  retryAt: Date | undefined,
): Promise<void> {
  const change =
    retryAt === undefined
      ? { status: 'dead' as const, lastError: error, leasedUntil: null }
      : { lastError: error, dueAt: retryAt, leasedUntil: null };
  // Only a pending row: a worker whose lease ran out must not undo another worker's completion.
  await db
    .update(outbox)
    .set(change)
    .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
}

export async function outboxBacklog(db: Db): Promise<number> {
  const rows = await db.select({ n: count() }).from(outbox).where(eq(outbox.status, 'pending'));
  return rows[0]?.n ?? 0;
}
