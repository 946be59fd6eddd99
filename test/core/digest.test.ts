import { describe, expect, it } from 'vitest';
import { synthPlan, synthRun, synthWeek } from '../../src/app/digest-synth.ts';
import {
  channelsWithPlans,
  computeDigest,
  latestScheduled,
  plansOfChannel,
  reportedWeek,
  startOfLocalDay,
  weekBefore,
  weekContaining,
} from '../../src/core/digest.ts';
import type { InsightRow } from '../../src/core/model.ts';

const HOUR = 3_600_000;

describe('digest weeks in a time zone', () => {
  it('are ISO weeks from Monday 00:00 on the local wall clock', () => {
    const w = weekContaining('2026-11-26T04:00:00Z', 'UTC');
    expect(w).toEqual({
      key: '2026-W48',
      start: '2026-11-23T00:00:00.000Z',
      end: '2026-11-30T00:00:00.000Z',
      timeZone: 'UTC',
      monday: '2026-11-23',
    });
    // 02:00 on Monday in Tokyo is still Sunday in UTC: the zone decides the week.
    expect(weekContaining('2026-11-22T17:00:00Z', 'Asia/Tokyo').key).toBe('2026-W48');
    expect(weekContaining('2026-11-22T17:00:00Z', 'UTC').key).toBe('2026-W47');
    expect(weekContaining('2026-11-23T03:00:00Z', 'America/New_York')).toMatchObject({
      key: '2026-W47',
      start: '2026-11-16T05:00:00.000Z',
      end: '2026-11-23T05:00:00.000Z',
    });
  });

  it('are 169 hours long across the autumn DST change and 167 across the spring one', () => {
    const autumn = weekContaining('2026-10-21T12:00:00Z', 'Europe/Paris');
    expect(autumn.start).toBe('2026-10-18T22:00:00.000Z');
    expect(autumn.end).toBe('2026-10-25T23:00:00.000Z');
    expect((Date.parse(autumn.end) - Date.parse(autumn.start)) / HOUR).toBe(169);
    const spring = weekContaining('2026-03-25T12:00:00Z', 'Europe/Paris');
    expect((Date.parse(spring.end) - Date.parse(spring.start)) / HOUR).toBe(167);
  });

  it('finds the start of a day that begins at 01:00 because midnight is skipped', () => {
    // Santiago moved clocks from 00:00 to 01:00 on 2026-09-06: the day starts at 01:00 local (04:00Z).
    const day = Math.floor(Date.UTC(2026, 8, 6) / 86_400_000);
    expect(new Date(startOfLocalDay(day, 'America/Santiago')).toISOString()).toBe('2026-09-06T04:00:00.000Z');
  });

  it('label weeks by ISO year: 2026 has a week 53 and 2027 starts on 4 January', () => {
    const w53 = weekContaining('2026-12-31T12:00:00Z', 'UTC');
    expect(w53.key).toBe('2026-W53');
    expect(weekBefore(w53, -1)).toMatchObject({ key: '2027-W01', monday: '2027-01-04' });
    expect(weekBefore(w53, 52)).toMatchObject({ key: '2026-W01', monday: '2025-12-29' });
  });

  it('reports the last complete week at the scheduled instant', () => {
    expect(reportedWeek('2026-11-23T09:00:00Z', 'UTC').key).toBe('2026-W47');
    expect(reportedWeek('2026-11-23T00:00:00Z', 'UTC').key).toBe('2026-W47');
    expect(reportedWeek('2026-11-22T23:59:00Z', 'UTC').key).toBe('2026-W46');
  });

  it('finds the most recent matching minute at or before now', () => {
    const mondayNine = (d: Date) => d.getUTCDay() === 1 && d.getUTCHours() === 9 && d.getUTCMinutes() === 0;
    expect(latestScheduled(Date.parse('2026-11-23T09:00:59Z'), mondayNine)).toBe(
      Date.parse('2026-11-23T09:00:00Z'),
    );
    expect(latestScheduled(Date.parse('2026-11-23T08:59:59Z'), mondayNine)).toBe(
      Date.parse('2026-11-16T09:00:00Z'),
    );
    expect(latestScheduled(Date.parse('2026-11-23T08:59:59Z'), mondayNine, 60)).toBeUndefined();
  });
});

const WEEK = weekContaining('2026-11-18T12:00:00Z', 'UTC'); // 2026-W47, 16 to 23 November
const inWeek = (day: number, hour = 12) =>
  new Date(Date.parse(WEEK.start) + day * 86_400_000 + hour * HOUR).toISOString();

function insight(over: Partial<InsightRow>): InsightRow {
  return {
    model: 'ctr',
    tags: [],
    changeKey: over.title ?? 'x',
    overrides: {},
    title: 'x',
    baselineKey: '',
    rationale: '',
    links: [],
    fidelity: 1,
    meanEffect: 0,
    lo: 0,
    hi: 0,
    nRuns: 2,
    nPlans: 1,
    status: 'null',
    reason: '',
    planIds: [],
    runIds: [],
    sum: 0,
    sumSq: 0,
    updatedAt: inWeek(2),
    ...over,
  };
}

describe('computeDigest', () => {
  const won = synthPlan({
    id: 'ctr-aaaaaa',
    channel: 'C1',
    model: 'ctr',
    goal: 'reduce NE',
    status: 'completed',
    createdAt: inWeek(-10),
    updatedAt: inWeek(3),
    // 4 GPU-hours this week, 10 two weeks ago, at $2.50: $10 this week.
    runs: [synthRun('r1', inWeek(1), 4, false), synthRun('r0', inWeek(-10), 10, false)],
    winner: 0.02,
    promotionPr: 7,
  });
  const lost = synthPlan({
    id: 'ctr-bbbbbb',
    channel: 'C1',
    model: 'ctr',
    goal: 'try adam',
    status: 'completed',
    createdAt: inWeek(0),
    updatedAt: inWeek(5),
    // 8 GPU-hours: a failed attempt of 2 then a success of 8, so 10 GPU-hours ($25).
    runs: [synthRun('r1', inWeek(4), 8, true)],
  });
  const running = synthPlan({
    id: 'ctr-cccccc',
    channel: 'C1',
    model: 'ctr',
    goal: 'bigger embeddings',
    status: 'running',
    createdAt: inWeek(-3),
    updatedAt: inWeek(6),
    runs: [synthRun('r1', inWeek(6), 2, false)],
  });
  const waiting = synthPlan({
    id: 'ctr-dddddd',
    channel: 'C1',
    model: 'ctr',
    goal: 'wider',
    status: 'awaiting_approval',
    createdAt: inWeek(6),
    updatedAt: inWeek(6),
    runs: [],
  });
  const elsewhere = { ...running, id: 'ctr-eeeeee', slack: { channel: 'C2', ts: '1.2' } };
  const oldDone = {
    ...won,
    id: 'ctr-ffffff',
    updatedAt: inWeek(-20),
    createdAt: inWeek(-30),
    runs: [synthRun('r0', inWeek(-21), 1, false)],
  };
  const notPosted = { ...running, id: 'ctr-gggggg', slack: { channel: '#later' } };
  const all = [won, lost, running, waiting, elsewhere, oldDone, notPosted];
  const insights = [
    insight({ title: 'lr up', status: 'win', meanEffect: 0.03, lo: 0.01, hi: 0.05 }),
    insight({ title: 'crosses', status: 'win', meanEffect: 0.02, lo: 0.015, hi: 0.025 }),
    insight({ title: 'adam', status: 'loss', meanEffect: -0.01, lo: -0.02, hi: -0.001, reason: 'worse' }),
    insight({ title: 'bs 4096', status: 'infeasible', reason: 'GPU out of memory' }),
    insight({ title: 'old win', status: 'win', meanEffect: 0.5, lo: 0.4, hi: 0.6, updatedAt: inWeek(-3) }),
    insight({ title: 'other model', model: 'other', status: 'win', meanEffect: 0.5, lo: 0.4, hi: 0.6 }),
  ];

  it('takes the channels with a posted plan thread open during the week', () => {
    expect(channelsWithPlans(all, WEEK)).toEqual(['C1', 'C2']);
    expect(channelsWithPlans(all, weekBefore(WEEK, 10))).toEqual([]);
  });

  it('computes wins, plans, dead ends, spend against budgets and dollars per point by hand', () => {
    const d = computeDigest({
      channel: 'C1',
      week: WEEK,
      plans: plansOfChannel(all, 'C1'),
      insights,
      now: '2026-11-23T09:00:00Z',
    });
    expect(d.partial).toBe(false);
    expect(d.plansInWeek).toBe(4);
    expect(d.wins).toMatchObject([
      { planId: 'ctr-aaaaaa', relEffect: 0.02, promotion: 'acme/ctr#7', usd: 35, usdPerPoint: 17.5 },
    ]);
    expect(d.endedWithoutWin).toMatchObject([
      { planId: 'ctr-bbbbbb', reason: 'no candidate beat the baseline at full fidelity' },
    ]);
    // A plan whose thread was never posted has a channel name, not this id: it is not in C1's digest.
    expect(d.running.map((p) => p.planId)).toEqual(['ctr-cccccc']);
    expect(d.awaitingApproval.map((p) => p.planId)).toEqual(['ctr-dddddd']);
    // This week: 4 (won) + 2 + 8 (lost, a failed attempt then a success) + 2 (running) GPU-hours.
    expect(d.spend.gpuHours).toBeCloseTo(4 + 10 + 2, 10);
    expect(d.spend.usd).toBeCloseTo(16 * 2.5, 10);
    expect(d.spend.attempts).toBe(4);
    expect(d.spend.failedAttempts).toBe(1);
    expect(d.spend.openApprovedGpuHours).toBe(200);
    expect(d.spend.openSpentGpuHours).toBe(2);
    // $40 over 2 points of improvement.
    expect(d.pointsGained).toBeCloseTo(2, 10);
    expect(d.usdPerPoint).toBeCloseTo(20, 10);
    expect(d.topInsights.map((i) => i.title)).toEqual(['crosses', 'lr up']);
    expect(d.deadEnds.map((i) => i.title)).toEqual(['adam', 'bs 4096']);
    expect(d.series).toHaveLength(8);
    expect(d.series.at(-1)).toMatchObject({ week: '2026-W47', usd: 40, bestImprovement: 0.02 });
    // Ten days earlier is in the week before last: 10 GPU-hours at $2.50.
    expect(d.series.at(-3)).toMatchObject({ week: '2026-W45', usd: 25, bestImprovement: undefined });
    expect(d.series.at(-2)!.usd).toBe(0);
    // A plan that ended before the week is in the chart's earlier weeks only.
    expect(d.series.at(-4)).toMatchObject({ week: '2026-W44', usd: 2.5, bestImprovement: 0.02 });
  });

  it('is partial while the week runs and has no cost per point without a win', () => {
    const d = computeDigest({
      channel: 'C2',
      week: WEEK,
      plans: plansOfChannel(all, 'C2'),
      insights: [],
      now: inWeek(4),
    });
    expect(d.partial).toBe(true);
    expect(d.wins).toEqual([]);
    expect(d.usdPerPoint).toBeUndefined();
    expect(d.spend.usd).toBeCloseTo(5, 10);
  });

  it('handles 50 plans and 5,000 runs in one week', () => {
    const world = synthWeek({ week: WEEK, plans: 50, runs: 5000, channels: ['C1'] });
    const d = computeDigest({
      channel: 'C1',
      week: WEEK,
      plans: world.plans,
      insights: world.insights,
      now: WEEK.end,
    });
    expect(d.plansInWeek).toBe(50);
    expect(d.spend.attempts).toBe(5000 + 500);
    expect(d.running.length + d.awaitingApproval.length + d.wins.length + d.endedWithoutWin.length).toBe(50);
  });
});
