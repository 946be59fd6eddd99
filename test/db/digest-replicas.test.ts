import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackDigestPoster } from '../../src/adapters/slack/digest-poster.ts';
import { type DigestSchedule, DigestScheduler } from '../../src/app/digest-service.ts';
import type { PostgresStore } from '../../src/db/store.ts';
import { webClient } from '../adapters/slack/helpers.ts';
import { savePlans, weekPlans } from '../app/digest-fixtures.ts';
import { type SlackEmulator, startSlackEmulator } from '../emulators/slack/index.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';

// Exactly one digest per channel and week with several `rea serve` replicas: two schedulers on two
// connection pools of one PostgreSQL database, posting to one Slack, with a clock moved across Monday 09:00.

const SCHEDULE: DigestSchedule = { cron: '0 9 * * 1', timeZone: 'UTC' };
const silent = pino({ level: 'silent' });

describe.skipIf(!process.env.DATABASE_URL)('weekly digest with two replicas on PostgreSQL', () => {
  let t: TestStore;
  let replica: PostgresStore;
  let slack: SlackEmulator;
  const schedulers: DigestScheduler[] = [];

  beforeEach(async () => {
    t = await openTestStore();
    replica = await t.openReplica();
    slack = await startSlackEmulator();
    await savePlans(t.store, weekPlans());
  });
  afterEach(async () => {
    await Promise.all(schedulers.splice(0).map((s) => s.stop()));
    await t.cleanup();
    await slack.close();
  });

  function scheduler(store: PostgresStore, id: string, now: () => Date): DigestScheduler {
    const s = new DigestScheduler({
      store,
      poster: new SlackDigestPoster(webClient(slack), silent),
      schedule: SCHEDULE,
      now,
      log: silent,
      replicaId: id,
    });
    schedulers.push(s);
    return s;
  }

  const digests = () => slack.messages.filter((m) => m.thread_ts === undefined);

  it('sends one digest per channel, not two, when both tick across Monday 09:00', async () => {
    const clock = { now: new Date('2026-11-23T08:58:00Z') };
    const a = scheduler(t.store, 'replica-a', () => clock.now);
    const b = scheduler(replica, 'replica-b', () => clock.now);
    for (const minute of ['08:58', '08:59', '09:00', '09:01', '09:02']) {
      clock.now = new Date(`2026-11-23T${minute}:00Z`);
      // Both replicas' cron jobs fire in the same minute: they race for every claim.
      await Promise.all([a.tick(clock.now), b.tick(clock.now), a.tick(clock.now), b.tick(clock.now)]);
    }
    expect(
      digests()
        .map((m) => m.channel)
        .sort(),
    ).toEqual(['C0EXPERIMENTS', 'C0RANKING']);
    expect(slack.files).toHaveLength(2);
    const records = await replica.listDigests();
    expect(records.map((r) => [r.channel, r.week])).toEqual([
      ['C0EXPERIMENTS', '2026-11-16'],
      ['C0RANKING', '2026-11-16'],
    ]);
    for (const r of records) {
      expect(['replica-a', 'replica-b']).toContain(r.sentBy);
      expect(digests().find((m) => m.channel === r.channel)?.ts).toBe(r.messageTs);
    }
  });

  it('a replica started after a missed Monday sends it once; starting again sends nothing', async () => {
    // Nobody ran on Monday; the first replica comes up on Wednesday.
    const wednesday = () => new Date('2026-11-25T14:00:00Z');
    const first = await scheduler(t.store, 'replica-a', wednesday).start();
    expect(first.map((o) => [o.channel, o.result])).toEqual([
      ['C0EXPERIMENTS', 'sent'],
      ['C0RANKING', 'sent'],
    ]);
    expect(digests()).toHaveLength(2);
    expect(digests()[0]!.text).toContain('2026-W47');

    const again = await scheduler(replica, 'replica-b', () => new Date('2026-11-25T14:30:00Z')).start();
    expect(again.map((o) => o.result)).toEqual(['taken', 'taken']);
    // Two replicas starting at once after the outage: still one each.
    const [x, y] = await Promise.all([
      scheduler(t.store, 'replica-c', wednesday).start(),
      scheduler(replica, 'replica-d', wednesday).start(),
    ]);
    expect([...x, ...y].filter((o) => o.result === 'sent')).toEqual([]);
    expect(digests()).toHaveLength(2);
  });
});
