import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { DigestRecord } from '../app/ports.ts';
import { digestsSent } from './schema.ts';
import type { Db } from './store-kit.ts';

// Weekly digests: which channel got which week, claimed once across replicas before Slack is called.

/** First key of the two-int advisory locks rea takes for digests (the second is a hash of channel and week). */
const DIGEST_LOCK_CLASS = 0x7265_6164; // 'read'

export function claimDigest(db: Db, channel: string, week: string, by: string, at: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
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

export async function confirmDigest(db: Db, channel: string, week: string, messageTs: string): Promise<void> {
  await db
    .update(digestsSent)
    .set({ messageTs })
    .where(and(eq(digestsSent.channel, channel), eq(digestsSent.week, week)));
}

export async function releaseDigest(db: Db, channel: string, week: string, by: string): Promise<void> {
  await db
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

export async function listDigests(db: Db): Promise<DigestRecord[]> {
  const rows = await db.select().from(digestsSent).orderBy(asc(digestsSent.week), asc(digestsSent.channel));
  return rows.map((r) => ({
    channel: r.channel,
    week: r.week,
    sentAt: r.sentAt.toISOString(),
    sentBy: r.sentBy,
    ...(r.messageTs ? { messageTs: r.messageTs } : {}),
  }));
}
