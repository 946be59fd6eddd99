import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import {
  channelsWithPlans,
  computeDigest,
  type Digest,
  type DigestWeek,
  isValidTimeZone,
  latestScheduled,
  plansOfChannel,
  reportedWeek,
  weekBefore,
  weekContaining,
} from '../core/digest.ts';
import type { InsightRow, PlanState } from '../core/model.ts';
import type { Store } from './ports.ts';

// The weekly digest: which (channel, week) digests are due is a pure function of the clock and the cron
// expression; sending one is claim (advisory lock + digests_sent row), post, confirm.
//
// Once-only under replicas: every replica ticks at the scheduled minute (and at start-up), and all of them
// race for the claim; the claim is one short transaction (pg_advisory_xact_lock on the pair, then an insert
// that the primary key lets succeed once), so exactly one replica posts each digest. Nothing holds a lock or
// a transaction while Slack is called.
//
// Crash window, chosen at-most-once: the claim is committed before the Slack post and confirmed (message ts)
// after it. A process that dies between the two (the duration of one chat.postMessage) leaves a claim without
// a message ts: the digest may or may not be in the channel, and rea does not send it again (a duplicate
// digest in a team channel is worse than one missing, which `/rea digest now` replaces). Start-up logs such
// claims. A post that Slack refuses while the process lives releases the claim and is retried later.

export const DEFAULT_DIGEST_CRON = '0 9 * * 1';
export const DEFAULT_DIGEST_TZ = 'UTC';
/** How many weeks the digest's chart shows. */
export const DIGEST_WEEKS = 8;

export interface DigestSchedule {
  cron: string;
  timeZone: string;
}

/** REA_DIGEST_CRON and REA_DIGEST_TZ, checked: a bad value fails start-up with a message saying which. */
export function digestScheduleFromEnv(env: NodeJS.ProcessEnv): DigestSchedule {
  const expr = env.REA_DIGEST_CRON?.trim() || DEFAULT_DIGEST_CRON;
  const timeZone = env.REA_DIGEST_TZ?.trim() || DEFAULT_DIGEST_TZ;
  if (!cron.validate(expr)) throw new Error(`REA_DIGEST_CRON '${expr}' is not a valid cron expression`);
  // Due digests are found minute by minute; a seconds field would fire at instants between minutes.
  const fields = cron.parse(expr);
  if (fields.second.length !== 1 || fields.second[0] !== 0)
    throw new Error(`REA_DIGEST_CRON '${expr}' has a seconds field; the digest is scheduled to the minute`);
  if (!isValidTimeZone(timeZone))
    throw new Error(`REA_DIGEST_TZ '${timeZone}' is not a time zone (use an IANA name such as Europe/Paris)`);
  return { cron: expr, timeZone };
}

/** The minutes the expression's minute field allows (node-cron's parser). */
function minuteField(expr: string): number[] {
  return cron.parse(expr).minute;
}

/** node-cron's own matcher for the schedule (in its time zone), without starting anything. */
export function scheduleMatcher(schedule: DigestSchedule): (at: Date) => boolean {
  const task = cron.createTask(schedule.cron, () => {}, { timezone: schedule.timeZone });
  // The task is only for its matcher: take it out of node-cron's registry right away.
  void task.destroy();
  return (at) => task.match(at);
}

export interface DueDigests {
  /** The most recent scheduled instant at or before now. */
  scheduledAt: string;
  /** The week that instant reports (the last complete week). */
  week: DigestWeek;
}

/**
 * The digest week due at `now`: the week reported by the most recent scheduled instant (looking back eight
 * days, so a missed Monday is still found). Pure given the matcher. Undefined when nothing was scheduled in
 * that time (a schedule rarer than weekly).
 */
export function dueDigest(
  now: Date,
  schedule: DigestSchedule,
  matches = scheduleMatcher(schedule),
): DueDigests | undefined {
  const at = latestScheduled(now.getTime(), matches, undefined, minuteField(schedule.cron));
  if (at === undefined) return undefined;
  return { scheduledAt: new Date(at).toISOString(), week: reportedWeek(at, schedule.timeZone) };
}

/**
 * What a digest needs from the store for one week: the plans of its eight weeks (for the chart) and the
 * insights of their models updated during the week (the only ones a digest shows).
 */
export async function loadDigestInputs(
  store: Store,
  week: DigestWeek,
  weeks = DIGEST_WEEKS,
): Promise<{ plans: PlanState[]; insights: InsightRow[] }> {
  const since = new Date(weekBefore(week, weeks - 1).start);
  const plans = await store.listPlanStates({ since });
  const models = [...new Set(plans.map((p) => p.spec.model))].sort();
  const insights = await store.listInsightsUpdated(models, new Date(week.start), new Date(week.end));
  return { plans, insights };
}

export function digestFor(
  inputs: { plans: readonly PlanState[]; insights: readonly InsightRow[] },
  channel: string,
  week: DigestWeek,
  now: Date,
): Digest {
  return computeDigest({
    channel,
    week,
    plans: plansOfChannel(inputs.plans, channel),
    insights: inputs.insights,
    now: now.toISOString(),
    weeks: DIGEST_WEEKS,
  });
}

/** The current week (so far) of a channel: `/rea digest now`. */
export async function currentDigest(
  store: Store,
  channel: string,
  now: Date,
  timeZone: string,
): Promise<Digest> {
  const week = weekContaining(now.getTime(), timeZone);
  return digestFor(await loadDigestInputs(store, week), channel, week, now);
}

/**
 * Posts a digest to a channel (message, then its chart); resolves to the message ts. Throws DigestNotPosted
 * when it is sure nothing reached the channel (rendering failed, Slack answered with an error); any other
 * error means the outcome is unknown.
 */
export interface DigestPoster {
  post(channel: string, digest: Digest): Promise<{ ts: string }>;
}

export class DigestNotPosted extends Error {
  readonly code = 'digest_not_posted';
}

export type DigestOutcome =
  | { channel: string; week: string; result: 'sent'; ts: string }
  | { channel: string; week: string; result: 'taken' }
  | { channel: string; week: string; result: 'failed'; error: string };

export interface DigestSchedulerOptions {
  store: Store;
  poster: DigestPoster;
  schedule: DigestSchedule;
  now: () => Date;
  log: Logger;
  /** Names this replica in digests_sent.sent_by. */
  replicaId: string;
  /** After a failed send, the next try (default 10 minutes); the cron alone would wait a week. */
  retryMs?: number;
}

export class DigestScheduler {
  private task: ScheduledTask | undefined;
  private retry: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly matches: (at: Date) => boolean;

  constructor(private readonly opts: DigestSchedulerOptions) {
    this.matches = scheduleMatcher(opts.schedule);
  }

  /**
   * Schedules the cron job (it only calls tick with the injected clock) and catches up: a digest whose
   * scheduled instant passed while no replica was running is sent now, once.
   */
  async start(): Promise<DigestOutcome[]> {
    const { schedule, log, store } = this.opts;
    this.task = cron.schedule(
      schedule.cron,
      () => {
        if (!this.stopped) void this.tick(this.opts.now());
      },
      { timezone: schedule.timeZone, name: `rea-digest-${this.opts.replicaId}` },
    );
    for (const d of await store.listDigests()) {
      if (!d.messageTs)
        log.warn(
          { channel: d.channel, week: d.week, sentBy: d.sentBy, sentAt: d.sentAt },
          'digest was claimed but its post was never confirmed; it may be missing from the channel',
        );
    }
    return this.tick(this.opts.now());
  }

  /** Sends every digest due at `now` that no replica claimed yet. Ticks of one scheduler run one at a time. */
  tick(now: Date): Promise<DigestOutcome[]> {
    const next = this.running.then(() => this.sendDue(now));
    this.running = next.catch(() => {});
    return next;
  }

  private async sendDue(now: Date): Promise<DigestOutcome[]> {
    const { store, poster, log, replicaId } = this.opts;
    const due = dueDigest(now, this.opts.schedule, this.matches);
    if (!due) return [];
    const { week } = due;
    const inputs = await loadDigestInputs(store, week);
    const outcomes: DigestOutcome[] = [];
    for (const channel of channelsWithPlans(inputs.plans, week)) {
      if (!(await store.claimDigest(channel, week.monday, replicaId, now))) {
        outcomes.push({ channel, week: week.monday, result: 'taken' });
        continue;
      }
      try {
        const digest = digestFor(inputs, channel, week, now);
        const { ts } = await poster.post(channel, digest);
        await store.confirmDigest(channel, week.monday, ts);
        log.info({ channel, week: week.key, ts }, 'weekly digest sent');
        outcomes.push({ channel, week: week.monday, result: 'sent', ts });
      } catch (err) {
        if (err instanceof DigestNotPosted) {
          // Nothing reached the channel: give the claim back so that the retry (any replica) sends it.
          await store.releaseDigest(channel, week.monday, replicaId);
          log.error(
            { channel, week: week.key, err: err.message },
            'weekly digest was not posted; will retry',
          );
        } else {
          // The post may have gone through (a timeout, a lost connection): at-most-once keeps the claim.
          log.error(
            { channel, week: week.key, err: String(err) },
            'weekly digest post had an unknown outcome; not sending it again',
          );
        }
        outcomes.push({ channel, week: week.monday, result: 'failed', error: String(err) });
      }
    }
    const retry = outcomes.some((o) => o.result === 'failed');
    if (retry && !this.stopped && !this.retry) {
      this.retry = setTimeout(
        () => {
          this.retry = undefined;
          if (!this.stopped) void this.tick(this.opts.now());
        },
        this.opts.retryMs ?? 10 * 60_000,
      );
      this.retry.unref();
    }
    return outcomes;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.task) {
      await this.task.stop();
      await this.task.destroy();
    }
    await this.running;
  }
}
