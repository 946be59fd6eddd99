import { beforeAll, describe, expect, it } from 'vitest';
import { renderPlan, renderReport } from '../../src/app/render.ts';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import type { Runbook } from '../../src/core/model.ts';
import { createPlan } from '../../src/core/plan.ts';
import { testBaseline, testDrafts, testSpec } from '../helpers/fixtures.ts';
import { runToQuiescence, type Sim, step } from '../helpers/world.ts';

// Golden files for what people read: the plan and the final report of a plan in the scripted world.

let runbooks: Runbook[];
beforeAll(async () => {
  runbooks = (await loadRunbooks({})).runbooks;
});

function finishedPlan() {
  const { state } = createPlan({
    id: 'p42',
    goal: 'reduce NE on new users',
    spec: testSpec(),
    baseline: testBaseline,
    hypotheses: testDrafts,
    rejected: [
      {
        title: 'lr 50',
        source: 'research',
        agent: 'offline',
        overrides: { learning_rate: 50 },
        reason: 'outside the knob space',
      },
    ],
    costSamples: [],
    noisePriors: [],
    seedBase: 1,
    now: '2026-11-02T09:00:00.000Z',
  });
  const sim: Sim = { state, effects: [], events: [], clock: Date.parse('2026-11-02T09:00:00Z') };
  const planned = renderPlan(state);
  step(sim, { type: 'approved', by: 'alice', via: 'github' }, runbooks);
  runToQuiescence(sim, runbooks);
  return { planned, done: sim.state };
}

describe('rendering', () => {
  it('renders the plan as people approve it', async () => {
    await expect(finishedPlan().planned).toMatchFileSnapshot('__golden__/plan.md');
  });

  it('renders the final report', async () => {
    const { done } = finishedPlan();
    const report = renderReport(done);
    expect(report).toContain('**Winner:');
    expect(report).toContain('Runbook **gpu-oom**');
    expect(report).toContain('Runbook **loss-divergence**');
    await expect(report).toMatchFileSnapshot('__golden__/report.md');
  });
});
