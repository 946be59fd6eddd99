import { and, arrayOverlaps, asc, desc, eq, gte, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { InsightRow, InsightSearch, InsightStatus } from '../app/ports.ts';
import { insights, plans } from './schema.ts';
import { type Db, insertChunked } from './store-kit.ts';

// Insights: the model's knowledge, one row per change and fidelity, upserted from plans and searched.

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

export async function listInsights(db: Db, model: string, tags: string[]): Promise<InsightRow[]> {
  const match =
    tags.length > 0
      ? or(eq(insights.model, model), arrayOverlaps(insights.tags, tags))
      : eq(insights.model, model);
  const rows = await db
    .select()
    .from(insights)
    .where(match)
    .orderBy(asc(insights.model), asc(insights.changeKey), asc(insights.fidelity));
  return rows.map(toInsightRow);
}

export async function searchInsights(db: Db, q: InsightSearch): Promise<InsightRow[]> {
  const where: SQL[] = [];
  const scope: SQL[] = [];
  if (q.model !== undefined) scope.push(eq(insights.model, q.model));
  if (q.repo !== undefined) {
    // Plans know their repository; insights know their model. A repo's models are those of its plans.
    scope.push(
      inArray(
        insights.model,
        db.select({ model: plans.model }).from(plans).where(sql`${plans.state}->>'repo' = ${q.repo}`),
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
    const probe = await db
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
  const rows = await db
    .select()
    .from(insights)
    .where(where.length > 0 ? and(...where) : undefined)
    .orderBy(...order)
    .limit(Math.max(1, Math.floor(q.limit)));
  return rows.map(toInsightRow);
}

export async function listInsightsUpdated(
  db: Db,
  models: string[],
  from: Date,
  to: Date,
): Promise<InsightRow[]> {
  if (models.length === 0) return [];
  const rows = await db
    .select()
    .from(insights)
    .where(and(inArray(insights.model, models), gte(insights.updatedAt, from), lt(insights.updatedAt, to)))
    .orderBy(asc(insights.model), asc(insights.changeKey), asc(insights.fidelity));
  return rows.map(toInsightRow);
}

export async function upsertInsights(tx: Db, rows: InsightRow[]): Promise<void> {
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
    tx
      .insert(insights)
      .values(chunk)
      .onConflictDoUpdate({
        target: [insights.model, insights.baselineKey, insights.changeKey, insights.fidelity],
        set,
      }),
  );
}
