import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackDigestPoster } from '../../src/adapters/slack/digest-poster.ts';
import {
  type DigestSchedule,
  DigestScheduler,
  digestScheduleFromEnv,
  dueDigest,
} from '../../src/app/digest-service.ts';
import { webClient } from '../adapters/slack/helpers.ts';
import { type SlackEmulator, startSlackEmulator } from '../emulators/slack/index.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';
import { savePlans, weekPlans } from './digest-fixtures.ts';

// The digest schedule with an injected clock (no real waiting), and the send protocol on one store: due at
// the scheduled minute, once per channel and week, a refused post given back and retried.

const UTC: DigestSchedule = { cron: '0 9 * * 1', timeZone: 'UTC' };
const silent = pino({ level: 'silent' });

describe('the digest schedule', () => {
  it('reads REA_DIGEST_CRON and REA_DIGEST_TZ with Monday 09:00 UTC by default, and rejects bad values', () => {
    expect(digestScheduleFromEnv({})).toEqual(UTC);
    expect(digestScheduleFromEnv({ REA_DIGEST_CRON: '30 17 * * 5', REA_DIGEST_TZ: 'Europe/Paris' })).toEqual({
      cron: '30 17 * * 5',
      timeZone: 'Europe/Paris',
    });
    expect(() => digestScheduleFromEnv({ REA_DIGEST_CRON: 'every monday' })).toThrow(
      "REA_DIGEST_CRON 'every monday' is not a valid cron expression",
    );
    expect(() => digestScheduleFromEnv({ REA_DIGEST_CRON: '*/10 0 9 * * 1' })).toThrow('has a seconds field');
    expect(() => digestScheduleFromEnv({ REA_DIGEST_TZ: 'Mars/Olympus' })).toThrow(
      "REA_DIGEST_TZ 'Mars/Olympus' is not a time zone",
    );
  });

  it('is due from Monday 09:00 for the week that just ended, and the week before until then', () => {
    expect(dueDigest(new Date('2026-11-23T08:59:59Z'), UTC)).toEqual({
      scheduledAt: '2026-11-16T09:00:00.000Z',
      week: expect.objectContaining({ key: '2026-W46', monday: '2026-11-09' }),
    });
    expect(dueDigest(new Date('2026-11-23T09:00:00Z'), UTC)).toEqual({
      scheduledAt: '2026-11-23T09:00:00.000Z',
      week: expect.objectContaining({ key: '2026-W47', monday: '2026-11-16' }),
    });
    // Days later (a replica that was down), the same week is still the one due.
    expect(dueDigest(new Date('2026-11-26T15:00:00Z'), UTC)?.week.key).toBe('2026-W47');
  });

  it('counts the schedule and the weeks in REA_DIGEST_TZ, across a DST change', () => {
    const paris: DigestSchedule = { cron: '0 9 * * 1', timeZone: 'Europe/Paris' };
    // Winter: Monday 09:00 in Paris is 08:00 UTC.
    expect(dueDigest(new Date('2026-11-23T07:59:00Z'), paris)?.scheduledAt).toBe('2026-11-16T08:00:00.000Z');
    expect(dueDigest(new Date('2026-11-23T08:00:00Z'), paris)).toEqual({
      scheduledAt: '2026-11-23T08:00:00.000Z',
      week: expect.objectContaining({ key: '2026-W47', start: '2026-11-15T23:00:00.000Z' }),
    });
    // The Monday after the clocks went back (25 October): the week reported was 169 hours long.
    const due = dueDigest(new Date('2026-10-26T08:00:00Z'), paris)!;
    expect(due.week).toMatchObject({ start: '2026-10-18T22:00:00.000Z', end: '2026-10-25T23:00:00.000Z' });
    // Zones offset by 30 and 45 minutes: the minute prefilter must not skip their minutes.
    const kathmandu: DigestSchedule = { cron: '30 9 * * 1', timeZone: 'Asia/Kathmandu' };
    expect(dueDigest(new Date('2026-11-23T03:45:00Z'), kathmandu)?.scheduledAt).toBe(
      '2026-11-23T03:45:00.000Z',
    );
    const kolkata: DigestSchedule = { cron: '15 9 * * 1', timeZone: 'Asia/Kolkata' };
    expect(dueDigest(new Date('2026-11-23T03:44:59Z'), kolkata)?.scheduledAt).toBe(
      '2026-11-16T03:45:00.000Z',
    );
    const friday: DigestSchedule = { cron: '30 17 * * 5', timeZone: 'America/New_York' };
    expect(dueDigest(new Date('2026-11-27T22:30:00Z'), friday)?.scheduledAt).toBe('2026-11-27T22:30:00.000Z');
    expect(dueDigest(new Date('2026-11-27T22:29:00Z'), friday)?.scheduledAt).toBe('2026-11-20T22:30:00.000Z');
  });
});

describe('DigestScheduler on one store', () => {
  let t: TestStore;
  let slack: SlackEmulator;
  beforeEach(async () => {
    t = await openTestStore();
    slack = await startSlackEmulator();
    await savePlans(t.store, weekPlans());
  });
  afterEach(async () => {
    await t.cleanup();
    await slack.close();
  });

  function scheduler(id = 'replica-1') {
    return new DigestScheduler({
      store: t.store,
      poster: new SlackDigestPoster(webClient(slack), silent),
      schedule: UTC,
      now: () => new Date('2026-11-23T09:00:00Z'),
      log: silent,
      replicaId: id,
    });
  }

  it('sends nothing before Monday 09:00, one digest per channel at 09:00, and nothing again after', async () => {
    const s = scheduler();
    expect(await s.tick(new Date('2026-11-23T08:59:00Z'))).toEqual([]);
    expect(slack.messages).toHaveLength(0);

    const sent = await s.tick(new Date('2026-11-23T09:00:00Z'));
    expect(sent.map((o) => [o.channel, o.result])).toEqual([
      ['C0EXPERIMENTS', 'sent'],
      ['C0RANKING', 'sent'],
    ]);
    const top = slack.messages.filter((m) => m.thread_ts === undefined);
    expect(top.map((m) => m.channel).sort()).toEqual(['C0EXPERIMENTS', 'C0RANKING']);
    expect(top[0]!.text).toContain('Weekly digest 2026-W47');
    // The chart is a PNG in each digest's thread.
    expect(slack.files).toHaveLength(2);
    for (const f of slack.files) {
      expect(f.mimetype).toBe('image/png');
      expect(f.bytes.subarray(1, 4).toString('ascii')).toBe('PNG');
      expect(top.some((m) => m.ts === f.thread_ts)).toBe(true);
    }
    expect(await t.store.listDigests()).toEqual([
      expect.objectContaining({
        channel: 'C0EXPERIMENTS',
        week: '2026-11-16',
        sentBy: 'replica-1',
        messageTs: expect.any(String),
      }),
      expect.objectContaining({ channel: 'C0RANKING', week: '2026-11-16', messageTs: expect.any(String) }),
    ]);

    expect((await s.tick(new Date('2026-11-23T09:05:00Z'))).map((o) => o.result)).toEqual(['taken', 'taken']);
    expect(slack.messages.filter((m) => m.thread_ts === undefined)).toHaveLength(2);
    await s.stop();
  });

  it('gives a refused post back and sends it on the next tick', async () => {
    const s = scheduler();
    slack.failNext('chat.postMessage', 'channel_not_found');
    const first = await s.tick(new Date('2026-11-23T09:00:00Z'));
    expect(first.map((o) => o.result)).toEqual(['failed', 'sent']);
    expect((await t.store.listDigests()).map((d) => d.channel)).toEqual(['C0RANKING']);
    const second = await s.tick(new Date('2026-11-23T09:10:00Z'));
    expect(second.map((o) => [o.channel, o.result])).toEqual([
      ['C0EXPERIMENTS', 'sent'],
      ['C0RANKING', 'taken'],
    ]);
    expect(slack.messages.filter((m) => m.thread_ts === undefined)).toHaveLength(2);
    await s.stop();
  });
});
