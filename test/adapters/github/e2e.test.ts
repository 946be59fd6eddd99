import { afterEach, describe, expect, it } from 'vitest';
import { cleanUp, harness, normalize, owner, repo, requestPlan, untilPromoted, waitFor } from './harness.ts';

// The GitHub surface end to end, over HTTP only: a `/rea plan` comment, the plan PR, approval by review,
// dispatches, runs on emulated self-hosted runners, wakes from workflow_run webhooks (or from the
// reconciler alone), the sticky comment and check run, and the promotion PR.

afterEach(cleanUp);

describe('GitHub end to end', () => {
  it('plans in a PR, runs on approval, wakes on webhooks, and opens the promotion PR', async () => {
    const h = await harness();
    const { plan, pr } = await requestPlan(h);
    const { data: prData } = await h.app.rest.pulls.get({ owner, repo, pull_number: pr });
    expect(prData.head.ref).toBe(`rea/plan-${plan.id}`);
    expect(prData.body).toContain(
      '| phase | runs (at most) | fidelity | seeds | GPU-h p50 / p90 | USD p50 / p90 |',
    );
    expect(prData.labels.map((l) => l.name)).toContain('rea:plan');
    await expect(normalize(prData.body ?? '', plan.id)).toMatchFileSnapshot('__golden__/plan-pr-body.md');
    const { data: before } = await h.app.rest.issues.getComment({
      owner,
      repo,
      comment_id: plan.origin!.commentId!,
    });
    await expect(normalize(before.body ?? '', plan.id)).toMatchFileSnapshot(
      '__golden__/sticky-awaiting-approval.md',
    );
    const planMd = h.emulator.readFile({
      owner,
      repo,
      path: `experiments/plans/${plan.id}.md`,
      ref: `rea/plan-${plan.id}`,
    });
    expect(planMd).toContain(`# Plan ${plan.id}: reduce NE on new users`);

    // bob cannot approve (read access, not listed); mallory has write access but is not an approver;
    // carol is listed but has only read access.
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'bob', state: 'approved' });
    await h.emulator.comment({ owner, repo, issue_number: pr, user: 'mallory', body: '/rea approve' });
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'carol', state: 'approved' });
    const refusals = await waitFor('three refusals', async () => {
      const { data } = await h.app.rest.issues.listComments({ owner, repo, issue_number: pr });
      const r = data.filter((c) => c.body?.startsWith('Nothing changed'));
      return r.length >= 3 ? r : undefined;
    });
    const said = refusals.map((c) => c.body).join('\n');
    expect(said).toMatch(/@bob is not an approver/);
    expect(said).toMatch(/@mallory is not an approver/);
    expect(said).toMatch(/@carol is listed as an approver but has read access/);
    expect((await h.store.getPlan(plan.id))!.status).toBe('awaiting_approval');

    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    const done = await untilPromoted(h, plan.id, 120_000);
    expect(done.status).toBe('completed');
    expect(done.approvals[0]).toMatchObject({ kind: 'approve', by: 'alice', via: 'github' });
    expect(done.winner?.overrides).toMatchObject({ crosses: true, optimizer: 'adagrad' });

    const { data: comments } = await h.app.rest.issues.listComments({ owner, repo, issue_number: pr });
    const sticky = comments.filter((c) => c.body?.includes(`<!-- rea:plan:${plan.id} -->`));
    expect(sticky).toHaveLength(1);
    expect(sticky[0]!.body).toContain('```mermaid');
    expect(sticky[0]!.body).toContain('**Winner:**');
    await expect(normalize(sticky[0]!.body ?? '', plan.id)).toMatchFileSnapshot(
      '__golden__/sticky-completed.md',
    );
    const { data: check } = await h.app.rest.checks.get({
      owner,
      repo,
      check_run_id: done.origin!.checkRunId!,
    });
    expect(check).toMatchObject({ name: 'rea/plan', status: 'completed', conclusion: 'success' });
    const { data: promo } = await h.app.rest.pulls.get({
      owner,
      repo,
      pull_number: done.origin!.promotionPr!,
    });
    expect(promo.body).toContain('95% interval');
    await expect(normalize(promo.body ?? '', plan.id)).toMatchFileSnapshot('__golden__/promotion-pr-body.md');
    const baseline = h.emulator.readFile({
      owner,
      repo,
      path: 'configs/baseline.yaml',
      ref: promo.head.ref,
    })!;
    expect(baseline).toContain('crosses: true');
    expect(baseline).toContain('optimizer: adagrad');
    // Every request validated against the OpenAPI description; every webhook against its schema.
    expect(h.emulator.violations).toEqual([]);
  }, 180_000);

  it('completes through the reconciler alone when every webhook is dropped, on a server without run details', async () => {
    const h = await harness({ returnRunDetails: false });
    const { plan, pr } = await requestPlan(h);
    h.emulator.deliverWebhooks = false;
    // The approval still needs one webhook; after it, nothing more is delivered.
    h.emulator.deliverWebhooks = true;
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    h.emulator.deliverWebhooks = false;
    const done = await waitFor(
      'the plan to finish',
      async () => {
        await h.rea.tick();
        const p = await h.store.getPlan(plan.id);
        return p && p.status !== 'running' && p.status !== 'awaiting_approval' ? p : undefined;
      },
      150_000,
    );
    expect(done.status).toBe('completed');
    expect(done.winner).toBeDefined();
    expect(h.emulator.violations).toEqual([]);
  }, 200_000);

  it('refuses forged webhooks and acts once on a redelivered one', async () => {
    const h = await harness();
    const { data: issue } = await h.app.rest.issues.create({ owner, repo, title: 'NE' });
    const body = JSON.stringify({ action: 'created', zen: 'forged' });
    const forged: Array<Record<string, string>> = [
      {
        'x-github-event': 'issue_comment',
        'x-github-delivery': 'forged-1',
        'content-type': 'application/json',
      },
      {
        'x-github-event': 'issue_comment',
        'x-github-delivery': 'forged-2',
        'content-type': 'application/json',
        'x-hub-signature-256': 'sha256=00',
      },
    ];
    for (const headers of forged) {
      const res = await fetch(`${h.rea.url}/api/github/webhooks`, { method: 'POST', headers, body });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    // Nothing was recorded for the forged deliveries.
    expect(await h.store.recordDelivery('forged-1', 'test', new Date())).toBe(true);
    expect(await h.store.recordDelivery('forged-2', 'test', new Date())).toBe(true);

    const d = await h.emulator.comment({
      owner,
      repo,
      issue_number: issue.number,
      user: 'alice',
      body: '/rea plan reduce NE',
    });
    await waitFor('a plan', async () => ((await h.store.listPlans()).length === 1 ? true : undefined));
    const again = await h.emulator.redeliver(d.id);
    expect(again.status).toBeLessThan(300);
    await h.rea.tick();
    expect(await h.store.listPlans()).toHaveLength(1);
    expect(h.emulator.violations).toEqual([]);
  }, 60_000);
});
