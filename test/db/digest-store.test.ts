import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { synthPlan, synthWeek } from '../../src/app/digest-synth.ts';
import { weekContaining } from '../../src/core/digest.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';

// The store methods of the weekly digest, on PGlite and (with DATABASE_URL) on the server.

const WEEK = weekContaining('2026-11-18T12:00:00Z', 'UTC');

describe('digest store', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore();
  });
  afterEach(() => t.cleanup());

  it('claims a (channel, week) once, confirms it with the message, and gives back only its own unsent claim', async () => {
    const at = new Date('2026-11-23T09:00:00Z');
    expect(await t.store.claimDigest('C1', '2026-11-16', 'a', at)).toBe(true);
    expect(await t.store.claimDigest('C1', '2026-11-16', 'b', at)).toBe(false);
    expect(await t.store.claimDigest('C2', '2026-11-16', 'b', at)).toBe(true);
    expect(await t.store.claimDigest('C1', '2026-11-23', 'b', at)).toBe(true);
    // Another replica's claim is not released by a stranger.
    await t.store.releaseDigest('C1', '2026-11-16', 'b');
    expect(await t.store.claimDigest('C1', '2026-11-16', 'b', at)).toBe(false);
    await t.store.releaseDigest('C2', '2026-11-16', 'b');
    await t.store.confirmDigest('C1', '2026-11-16', '1700000000.000100');
    // A sent digest is not released either.
    await t.store.releaseDigest('C1', '2026-11-16', 'a');
    expect(await t.store.listDigests()).toEqual([
      {
        channel: 'C1',
        week: '2026-11-16',
        sentAt: at.toISOString(),
        sentBy: 'a',
        messageTs: '1700000000.000100',
      },
      { channel: 'C1', week: '2026-11-23', sentAt: at.toISOString(), sentBy: 'b' },
    ]);
    expect(await t.store.claimDigest('C2', '2026-11-16', 'c', at)).toBe(true);
  });

  it('lists open plans and those changed since a date, and the insights of some models updated in a week', async () => {
    const world = synthWeek({ week: WEEK, plans: 10, runs: 20, channels: ['C1'], insights: 30 });
    const old = synthPlan({
      id: 'old-aaaaaa',
      channel: 'C1',
      model: 'model-0',
      goal: 'old',
      status: 'completed',
      createdAt: '2026-01-05T10:00:00.000Z',
      updatedAt: '2026-01-06T10:00:00.000Z',
      runs: [],
    });
    const outside = { ...world.insights[0]!, changeKey: 'old-change', updatedAt: '2026-11-01T00:00:00.000Z' };
    await t.store.transaction(async (tx) => {
      for (const p of [...world.plans, old]) await tx.savePlan(p);
      await tx.upsertInsights([...world.insights, outside]);
    });
    const states = await t.store.listPlanStates({ since: new Date('2026-10-01T00:00:00Z') });
    expect(states.map((p) => p.id).sort()).toEqual(world.plans.map((p) => p.id).sort());
    expect(states[0]!.runs.length).toBeGreaterThan(0);
    const rows = await t.store.listInsightsUpdated(
      ['model-0', 'model-1'],
      new Date(WEEK.start),
      new Date(WEEK.end),
    );
    const expected = world.insights.filter((r) => r.model === 'model-0' || r.model === 'model-1');
    expect(rows.map((r) => r.changeKey).sort()).toEqual(expected.map((r) => r.changeKey).sort());
    expect(rows.find((r) => r.changeKey === 'old-change')).toBeUndefined();
    expect(await t.store.listInsightsUpdated([], new Date(WEEK.start), new Date(WEEK.end))).toEqual([]);
  });
});
