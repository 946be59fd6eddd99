import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { spentGpuHours } from '../core/decide.ts';
import type { PlanState } from '../core/model.ts';
import type { Store } from './ports.ts';

// What `rea serve` exposes at /metrics (Prometheus text format). Counters are per process; gauges are read
// from the database at scrape time, so every replica reports the same totals.

const PLAN_STATUSES: PlanState['status'][] = [
  'awaiting_approval',
  'running',
  'paused',
  'completed',
  'cancelled',
  'rejected',
];

export interface ReaMetrics {
  registry: Registry;
  webhooks: Counter<'source'>;
  wakes: Counter<'source'>;
  dispatches: Counter;
  effects: Counter<'type'>;
  effectFailures: Counter<'type'>;
  wakeLatency: Histogram<'source'>;
}

async function allPlans(store: Store): Promise<PlanState[]> {
  const list = await store.listPlans();
  const plans = await Promise.all(list.map((s) => store.getPlan(s.id)));
  return plans.filter((p): p is PlanState => p !== undefined);
}

export function makeMetrics(store: Store): ReaMetrics {
  const registry = new Registry();
  const m: ReaMetrics = {
    registry,
    webhooks: new Counter({
      name: 'rea_webhooks_received_total',
      help: 'Webhook and Slack requests received.',
      labelNames: ['source'],
      registers: [registry],
    }),
    wakes: new Counter({
      name: 'rea_wakes_total',
      help: 'Plan wakes applied (webhooks, Slack, reconciler).',
      labelNames: ['source'],
      registers: [registry],
    }),
    dispatches: new Counter({
      name: 'rea_dispatches_total',
      help: 'Workflow runs dispatched or re-run.',
      registers: [registry],
    }),
    effects: new Counter({
      name: 'rea_effects_performed_total',
      help: 'Outbox effects performed, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    effectFailures: new Counter({
      name: 'rea_effect_failures_total',
      help: 'Outbox effects that failed (and will be retried), by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    wakeLatency: new Histogram({
      name: 'rea_wake_latency_seconds',
      help: 'From receiving a webhook or command to its transaction being committed.',
      labelNames: ['source'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'rea_outbox_backlog',
    help: 'Outbox effects not yet performed.',
    registers: [registry],
    async collect() {
      this.set(await store.outboxBacklog());
    },
  });
  // One read of all plans serves the three plan gauges of a scrape.
  let snapshot: Promise<PlanState[]> | undefined;
  const plans = () => {
    snapshot ??= allPlans(store).finally(() => setTimeout(() => (snapshot = undefined), 1000));
    return snapshot;
  };
  new Gauge({
    name: 'rea_plans',
    help: 'Plans by status.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = new Map<string, number>(PLAN_STATUSES.map((s) => [s, 0]));
      for (const p of await plans()) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'rea_gpu_hours_spent',
    help: 'GPU-hours spent by all attempts of all plans.',
    registers: [registry],
    async collect() {
      this.set((await plans()).reduce((s, p) => s + spentGpuHours(p), 0));
    },
  });
  new Gauge({
    name: 'rea_failures_by_runbook',
    help: 'Failed attempts by the runbook that handled them.',
    labelNames: ['runbook'],
    registers: [registry],
    async collect() {
      const counts = new Map<string, number>();
      for (const p of await plans()) {
        for (const r of p.runs)
          for (const a of r.attempts)
            if (a.runbook) counts.set(a.runbook.id, (counts.get(a.runbook.id) ?? 0) + 1);
      }
      this.reset();
      for (const [runbook, n] of counts) this.set({ runbook }, n);
    },
  });
  return m;
}
