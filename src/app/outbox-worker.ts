import type { Logger } from 'pino';
import { type Effect, MESSAGE_EFFECT_TYPES, type PlanState } from '../core/model.ts';
import type { OutboxItem, Store } from './ports.ts';

// Performs outbox effects after their transaction committed, with retries and backoff. A performer must be
// idempotent: a crash between performing and completing an item performs it again.

export type Performer = (effect: Effect, plan: PlanState | undefined, item: OutboxItem) => Promise<void>;

export interface OutboxOptions {
  store: Store;
  perform: Performer;
  now: () => Date;
  log: Logger;
  leaseMs?: number;
  /** Tries before an item is marked dead (and logged as an error). */
  maxTries?: number;
  batch?: number;
}

export function backoffMs(tries: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(0, tries - 1));
}

/** Performs every item due now; returns how many were claimed. */
export async function drainOutbox(opts: OutboxOptions): Promise<number> {
  const { store, log } = opts;
  const maxTries = opts.maxTries ?? 8;
  let total = 0;
  for (;;) {
    const items = await store.claimOutbox(opts.batch ?? 16, opts.now(), opts.leaseMs ?? 60_000);
    if (items.length === 0) return total;
    total += items.length;
    // Every change of a plan asks to publish it; only the newest publish of a plan in a batch says
    // anything the others do not, so the older ones are completed without calling GitHub or Slack.
    const newestPublish = new Map<string, number>();
    for (const item of items)
      if (item.effect.type === 'publish_plan') newestPublish.set(item.planId, item.id);
    const blocked = new Set<string>();
    for (const item of items) {
      const isMessage = MESSAGE_EFFECT_TYPES.includes(item.effect.type);
      if (isMessage && blocked.has(item.planId)) {
        // An earlier message of this plan failed: the later ones wait for it, so that order holds.
        await store.releaseOutbox(item.id);
        continue;
      }
      if (item.effect.type === 'publish_plan' && newestPublish.get(item.planId) !== item.id) {
        await store.completeOutbox(item.id, opts.now());
        continue;
      }
      const plan = await store.getPlan(item.planId);
      try {
        await opts.perform(item.effect, plan, item);
        await store.completeOutbox(item.id, opts.now());
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const dead = item.attempts >= maxTries;
        const retryAt = dead ? undefined : new Date(opts.now().getTime() + backoffMs(item.attempts));
        await store.failOutbox(item.id, message, retryAt);
        if (isMessage) blocked.add(item.planId);
        const fields = { planId: item.planId, effect: item.effect.type, tries: item.attempts, err: message };
        if (dead) log.error(fields, 'outbox effect failed for good');
        else log.warn(fields, 'outbox effect failed; will retry');
      }
    }
  }
}
