import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cleanUp, harness, owner, repo, requestPlan, toyOutcome, waitFor } from './harness.ts';

// Failures on GitHub handled by runbooks: a lost runner is retried by re-running the same workflow run (a
// new run_attempt), a run past its timeout is cancelled by the reconciler's timer; and onboarding.

afterEach(cleanUp);

describe('runbooks on GitHub', () => {
  it('retries a run whose runner was lost by re-running it, and reads the second run_attempt', async () => {
    const h = await harness();
    let lost = false;
    h.emulator.setRunner(async (run) => {
      // The first attempt of the first baseline run loses its runner.
      if (!lost && run.inputs.run_id?.endsWith(':r1:1') && run.runAttempt === 1) {
        lost = true;
        return {
          conclusion: 'failure',
          durationSec: 600,
          log: 'Error: The runner has received a shutdown signal.',
        };
      }
      return toyOutcome(run);
    });
    const { plan, pr } = await requestPlan(h);
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    const r1 = await waitFor('r1 to succeed', async () => {
      await h.rea.tick();
      const p = await h.store.getPlan(plan.id);
      const r = p?.runs.find((x) => x.id === 'r1');
      return r?.status === 'succeeded' ? r : undefined;
    });
    expect(r1.attempts).toHaveLength(2);
    const [first, second] = r1.attempts;
    expect(first).toMatchObject({
      status: 'failed',
      runbook: { id: 'runner-lost', action: 'retry' },
      externalAttempt: 1,
    });
    expect(second).toMatchObject({ status: 'succeeded', externalId: first!.externalId, externalAttempt: 2 });
    expect(
      h.emulator.requests.some(
        (r) => r.method === 'POST' && r.path.endsWith(`/actions/runs/${first!.externalId}/rerun`),
      ),
    ).toBe(true);
    expect(h.emulator.violations).toEqual([]);
  }, 90_000);

  it('cancels a run past its timeout through the reconciler and hands it to the timeout runbook', async () => {
    const h = await harness({ reaYml: (t) => t.replace('timeout_minutes: 720', 'timeout_minutes: 0.02') });
    h.emulator.setRunner(async (run) =>
      run.inputs.run_id?.includes(':r1:') ? { conclusion: 'success', stuck: true } : toyOutcome(run),
    );
    const { plan, pr } = await requestPlan(h);
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    const r1 = await waitFor('r1 to time out twice', async () => {
      await h.rea.tick();
      const r = (await h.store.getPlan(plan.id))?.runs.find((x) => x.id === 'r1');
      return r?.status === 'failed' ? r : undefined;
    });
    expect(r1.attempts.map((a) => a.conclusion)).toEqual(['timed_out', 'timed_out']);
    expect(r1.attempts[0]!.runbook).toMatchObject({ id: 'timeout', action: 'retry' });
    expect(r1.attempts[1]!.runbook).toMatchObject({ id: 'timeout', action: 'skip' });
    expect(h.emulator.requests.some((r) => r.method === 'POST' && r.path.endsWith('/cancel'))).toBe(true);
    expect(h.emulator.violations).toEqual([]);
  }, 90_000);
});

describe('/rea init', () => {
  it('opens a PR adding a commented .rea.yml and the experiment workflow to a repository without them', async () => {
    const h = await harness({ withoutReaYml: true });
    const { data: issue } = await h.app.rest.issues.create({ owner, repo, title: 'Set up rea' });
    await h.emulator.comment({
      owner,
      repo,
      issue_number: issue.number,
      user: 'alice',
      body: '/rea plan reduce NE',
    });
    await h.emulator.comment({ owner, repo, issue_number: issue.number, user: 'alice', body: '/rea init' });
    const replies = await waitFor('two replies', async () => {
      const { data } = await h.app.rest.issues.listComments({ owner, repo, issue_number: issue.number });
      const mine = data.filter((c) => c.user?.type === 'Bot');
      return mine.length >= 2 ? mine : undefined;
    });
    expect(replies[0]!.body).toContain('has no `.rea.yml`');
    expect(replies[1]!.body).toMatch(/Opened #\d+/);
    const rea = h.emulator.readFile({ owner, repo, path: '.rea.yml', ref: 'rea/init' })!;
    expect(rea).toContain('# rea');
    const wf = parse(
      h.emulator.readFile({ owner, repo, path: '.github/workflows/rea-experiment.yml', ref: 'rea/init' })!,
    );
    expect(wf['run-name']).toContain('inputs.run_id');
    expect(h.emulator.violations).toEqual([]);
  }, 60_000);
});
