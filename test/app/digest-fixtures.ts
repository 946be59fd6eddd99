import { synthPlan, synthRun } from '../../src/app/digest-synth.ts';
import type { Store } from '../../src/app/ports.ts';
import type { PlanState } from '../../src/core/model.ts';

// Plans for the digest service tests (one store, two replicas, the CLI, Slack).

/** Plans with posted threads in two channels, open during 2026-W47 (16 to 22 November). */
export function weekPlans(): PlanState[] {
  const base = {
    model: 'ctr',
    goal: 'reduce NE',
    createdAt: '2026-11-16T10:00:00.000Z',
    runs: [synthRun('r1', '2026-11-17T10:00:00.000Z', 4, false)],
  };
  return [
    synthPlan({
      ...base,
      id: 'ctr-a00001',
      channel: 'C0EXPERIMENTS',
      status: 'running',
      updatedAt: '2026-11-18T10:00:00.000Z',
    }),
    synthPlan({
      ...base,
      id: 'ctr-a00002',
      channel: 'C0EXPERIMENTS',
      status: 'completed',
      winner: 0.02,
      updatedAt: '2026-11-19T10:00:00.000Z',
    }),
    synthPlan({
      ...base,
      id: 'ctr-b00001',
      channel: 'C0RANKING',
      status: 'running',
      updatedAt: '2026-11-18T10:00:00.000Z',
    }),
  ];
}

export async function savePlans(store: Store, plans: PlanState[]): Promise<void> {
  await store.transaction(async (tx) => {
    for (const p of plans) await tx.savePlan(p);
  });
}
