import cron from 'node-cron';
import type { Logger } from 'pino';
import { drainOutbox, type Performer } from '../app/outbox-worker.ts';
import type { Store } from '../app/ports.ts';

// What `rea serve` does on its own, without a request: the outbox worker on a timer, and the reconciler on a
// cron schedule (tests give an interval in milliseconds instead). Nothing waits in memory between ticks.

export interface LoopsDeps {
  store: Store;
  perform: Performer;
  /** One pass of the reconciler. */
  reconcile(): Promise<unknown>;
  now: () => Date;
  log: Logger;
  outboxIntervalMs?: number;
  /** Runs the reconciler every so many milliseconds instead of on `reconcileSchedule`. */
  reconcileIntervalMs?: number;
  /** A cron expression, already validated (settings.ts). */
  reconcileSchedule: string;
}

export interface Loops {
  /** Runs the outbox and the reconciler once, now. */
  tick(): Promise<void>;
  /** No timer fires after this; the batch in hand finishes (awaited by `settled`). */
  stop(): Promise<void>;
  /** Resolves when the outbox batch in hand is done. */
  settled(): Promise<unknown>;
}

export function startLoops(deps: LoopsDeps): Loops {
  const { store, perform, now, log } = deps;
  let draining: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const drain = () => {
    draining = draining.then(() =>
      drainOutbox({ store, perform, now, log }).catch((err) =>
        log.error({ err: String(err) }, 'outbox worker failed'),
      ),
    );
    return draining;
  };
  const reconcile = () =>
    deps.reconcile().catch((err) => log.error({ err: String(err) }, 'reconciler failed'));
  const outboxTimer = setInterval(() => !stopped && void drain(), deps.outboxIntervalMs ?? 500);
  const reconcileTimer =
    deps.reconcileIntervalMs !== undefined
      ? setInterval(() => !stopped && void reconcile(), deps.reconcileIntervalMs)
      : undefined;
  const reconcileCron =
    deps.reconcileIntervalMs === undefined
      ? cron.schedule(deps.reconcileSchedule, () => {
          if (!stopped) void reconcile();
        })
      : undefined;
  void reconcile();
  return {
    tick: async () => {
      await drain();
      await reconcile();
      await drain();
    },
    stop: async () => {
      stopped = true;
      clearInterval(outboxTimer);
      clearInterval(reconcileTimer);
      await reconcileCron?.stop();
    },
    settled: () => draining,
  };
}
