import { readFileSync } from 'node:fs';
import path from 'node:path';
import { applyPatch, createTwoFilesPatch } from 'diff';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Octokit } from '../../../src/adapters/github/github-code-host.ts';
import { ensureExperiment, type GithubDeps, runRef } from '../../../src/adapters/github/github-effects.ts';
import { experimentBranch, parseRunTitle, planBranch } from '../../../src/adapters/github/run-ids.ts';
import { renderWorkflow } from '../../../src/adapters/github/workflow-template.ts';
import type { HypothesisSource, Proposal } from '../../../src/app/ports.ts';
import { loadModelDir } from '../../../src/config/load.ts';
import type { Hypothesis, PlanState } from '../../../src/core/model.ts';
import { cleanUp, harness, owner, repo, requestPlan, TOY, toyOutcome, untilPromoted } from './harness.ts';

// Code hypotheses on GitHub: nothing is pushed before approval; after it, each code hypothesis gets one
// branch from the plan's base commit with its patch committed and one draft PR; its runs are dispatched on
// that branch (so the workflow's checkout runs the patched code); a patch that does not apply fails its
// run with the reason and creates nothing; delivering the same work again creates nothing twice.

afterEach(cleanUp);

const TRAIN = readFileSync(path.join(TOY, 'train.mjs'), 'utf8');
const GAIN_LINE = "if (cfg.optimizer === 'adagrad') gain += 0.01;\n";
const PATCHED = TRAIN.replace(GAIN_LINE, `${GAIN_LINE}gain += 0.02;\n`);
const GOOD = createTwoFilesPatch('a/train.mjs', 'b/train.mjs', TRAIN, PATCHED);
const STALE = createTwoFilesPatch('a/train.mjs', 'b/train.mjs', 'const a = 1;\n', 'const a = 2;\n');

function hypothesis(title: string, over: Partial<Hypothesis>): Omit<Hypothesis, 'id'> {
  return {
    title,
    rationale: `test hypothesis ${title}`,
    source: 'research',
    agent: 'test',
    kind: 'config',
    overrides: {},
    expectedEffect: 0.01,
    risk: 'medium',
    evidence: [],
    ...over,
  };
}

const source: HypothesisSource = {
  name: 'fixed',
  async propose(): Promise<Proposal> {
    return {
      hypotheses: [
        hypothesis('gelu activation', {
          kind: 'code',
          patch: GOOD,
          files: ['train.mjs'],
          expectedEffect: 0.02,
        }),
        hypothesis('stale refactor', {
          kind: 'code',
          patch: STALE,
          files: ['train.mjs'],
          expectedEffect: 0.015,
        }),
        hypothesis('crosses on', { overrides: { crosses: true }, expectedEffect: 0.03 }),
        hypothesis('adagrad', { overrides: { optimizer: 'adagrad' } }),
      ],
      rejected: [],
      notes: [],
    };
  },
};

async function refSha(h: Awaited<ReturnType<typeof harness>>, branch: string): Promise<string | undefined> {
  try {
    const { data } = await h.app.rest.git.getRef({ owner, repo, ref: `heads/${branch}` });
    return data.object.sha;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  }
}

describe('code hypotheses on GitHub', () => {
  it('get a branch and a draft PR only after approval, run on that branch, and are made once', async () => {
    // Without run details in the dispatch response, rea finds each run by its title on the branch it
    // dispatched on: for code runs, the experiment branch.
    const h = await harness({
      reaYml: (t) => `${t}editable: ["train.mjs"]\n`,
      sources: [source],
      returnRunDetails: false,
    });
    // The scripted runner plays the workflow's checkout: it reads train.mjs at the commit the run is on.
    const seen: Array<{ ref: string; runId: string; patched: boolean }> = [];
    h.emulator.setRunner(async (run) => {
      const out = toyOutcome(run);
      const code = h.emulator.readFile({ owner, repo, path: 'train.mjs', ref: run.sha });
      const patched = code === PATCHED;
      seen.push({ ref: run.ref, runId: parseRunTitle(`rea ${run.inputs.run_id}`)!.runId, patched });
      const files = out.artifacts?.['rea-metrics'];
      if (patched && files) {
        const m = JSON.parse(String(files['metrics.json'])) as { metrics: Record<string, number> };
        m.metrics.ne! *= 0.98;
        files['metrics.json'] = JSON.stringify(m);
      }
      return out;
    });
    const { plan, pr } = await requestPlan(h);
    const gelu = plan.hypotheses.find((x) => x.title === 'gelu activation')!;
    const stale = plan.hypotheses.find((x) => x.title === 'stale refactor')!;
    expect(gelu.kind).toBe('code');

    // Awaiting approval: the plan PR shows the patches; no experiment branch or PR exists.
    const { data: planPr } = await h.app.rest.pulls.get({ owner, repo, pull_number: pr });
    expect(planPr.body).toContain(`**Code hypotheses (${gelu.id}, ${stale.id})**`);
    expect(planPr.body).toContain('+gain += 0.02;');
    expect(planPr.body).toContain(
      `| ${gelu.id} | gelu activation | research (test) | code (train.mjs) | medium |`,
    );
    await h.rea.tick();
    expect(await refSha(h, experimentBranch(plan.id, gelu.id))).toBeUndefined();
    expect(await refSha(h, experimentBranch(plan.id, stale.id))).toBeUndefined();
    const { data: openBefore } = await h.app.rest.pulls.list({ owner, repo, state: 'all' });
    expect(openBefore.map((p) => p.number)).toEqual([pr]);

    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    const done = await untilPromoted(h, plan.id, 150_000);
    expect(done.status).toBe('completed');
    expect(done.escalations).toEqual([]);

    // One branch for the code that applies: the base commit plus the patch, nothing else changed.
    const branch = experimentBranch(plan.id, gelu.id);
    const head = await refSha(h, branch);
    expect(head).toBeDefined();
    const { data: commit } = await h.app.rest.git.getCommit({ owner, repo, commit_sha: head! });
    expect(commit.parents.map((p) => p.sha)).toEqual([plan.origin!.baseSha]);
    expect(h.emulator.readFile({ owner, repo, path: 'train.mjs', ref: branch })).toBe(
      applyPatch(TRAIN, GOOD) as string,
    );
    expect(h.emulator.readFile({ owner, repo, path: 'train.mjs', ref: 'main' })).toBe(TRAIN);
    expect(h.emulator.readFile({ owner, repo, path: '.rea.yml', ref: branch })).toBe(
      h.emulator.readFile({ owner, repo, path: '.rea.yml', ref: 'main' }),
    );
    // None for the stale patch: its one run failed with the reason, and the plan went on without it.
    expect(await refSha(h, experimentBranch(plan.id, stale.id))).toBeUndefined();
    const staleRun = done.runs.find(
      (r) => done.candidates.find((c) => c.id === r.candidateId)?.codeHypothesisId === stale.id,
    )!;
    expect(staleRun.status).toBe('failed');
    expect(staleRun.attempts[0]!.reason).toBe(
      `rea: the code patch of hypothesis ${stale.id} (stale refactor) was not applied: the patch does not apply to train.mjs: its context differs from the file`,
    );
    expect(staleRun.attempts[0]!.runbook?.id).toBe('code-patch-rejected');
    expect(seen.some((s) => s.runId === staleRun.id)).toBe(false);

    // Exactly one draft PR, for gelu, linked from the plan.
    const { data: all } = await h.app.rest.pulls.list({ owner, repo, state: 'all', per_page: 100 });
    const experiments = all.filter((p) => p.title.startsWith('rea experiment:'));
    expect(experiments).toHaveLength(1);
    const exp = experiments[0]!;
    expect(exp).toMatchObject({ title: 'rea experiment: gelu activation', draft: true, state: 'open' });
    expect(exp.head.ref).toBe(branch);
    expect(exp.base.ref).toBe('main');
    expect(exp.body).toContain(`plan \`${plan.id}\` (#${pr})`);
    expect(done.origin!.experimentPrs).toEqual({ [gelu.id]: exp.number });
    const { data: comments } = await h.app.rest.issues.listComments({ owner, repo, issue_number: pr });
    const sticky = comments.find((c) => c.body?.includes(`<!-- rea:plan:${plan.id} -->`))!;
    expect(sticky.body).toContain(`- ${gelu.id} gelu activation: #${exp.number}`);

    // Every run of a gelu candidate ran on its branch and saw the patch; every other run on the plan
    // branch without it.
    const geluRuns = new Set(
      done.runs
        .filter((r) => done.candidates.find((c) => c.id === r.candidateId)?.codeHypothesisId === gelu.id)
        .map((r) => r.id),
    );
    expect(geluRuns.size).toBeGreaterThan(1);
    expect(seen.length).toBeGreaterThan(geluRuns.size);
    for (const id of geluRuns) expect(runRef(done, id)).toBe(branch);
    for (const r of done.runs) {
      const a = r.attempts.at(-1);
      if (a && r.status === 'succeeded') expect(a.externalId).toBeDefined();
    }
    for (const s of seen) {
      if (geluRuns.has(s.runId)) expect(s).toMatchObject({ ref: branch, patched: true });
      else expect(s).toMatchObject({ ref: planBranch(plan.id), patched: false });
    }
    // The patch's measured gain made it part of the winner; the promotion PR points at the code.
    expect(done.winner?.codeHypothesisId).toBe(gelu.id);
    const { data: promo } = await h.app.rest.pulls.get({
      owner,
      repo,
      pull_number: done.origin!.promotionPr!,
    });
    expect(promo.body).toContain(`merge draft PR #${exp.number} for the code`);

    // Delivered again after a crash that lost the recorded PR number: the same branch and PR are found.
    const deps: GithubDeps = {
      store: h.store,
      octokitFor: async () => h.app as unknown as Octokit,
      runbooks: [],
      log: pino({ level: 'silent' }),
      now: () => new Date(),
    };
    const lost: PlanState = { ...done, status: 'running', origin: { ...done.origin!, experimentPrs: {} } };
    const again = await ensureExperiment(deps, h.app as unknown as Octokit, lost, gelu);
    expect(again).toEqual({ ok: true, branch, pr: exp.number });
    expect(await refSha(h, branch)).toBe(head);
    const { data: after } = await h.app.rest.pulls.list({ owner, repo, state: 'all', per_page: 100 });
    expect(after.filter((p) => p.title.startsWith('rea experiment:'))).toHaveLength(1);
    expect(h.emulator.violations).toEqual([]);
  }, 200_000);

  it('cannot name an experiment branch under the plan branch: git refs are paths', async () => {
    const h = await harness();
    const { data: main } = await h.app.rest.git.getRef({ owner, repo, ref: 'heads/main' });
    await h.app.rest.git.createRef({ owner, repo, ref: 'refs/heads/rea/plan-x1', sha: main.object.sha });
    await expect(
      h.app.rest.git.createRef({ owner, repo, ref: 'refs/heads/rea/plan-x1/h1', sha: main.object.sha }),
    ).rejects.toMatchObject({ status: 422 });
    await h.app.rest.git.createRef({
      owner,
      repo,
      ref: `refs/heads/${experimentBranch('x1', 'h1')}`,
      sha: main.object.sha,
    });
    expect(h.emulator.violations).toEqual([]);
  });

  it("the workflow checks out the dispatched ref, so a run on an experiment branch runs that branch's code", async () => {
    const loaded = await loadModelDir(TOY);
    if (!loaded.ok) throw new Error('toy model invalid');
    const yml = renderWorkflow(loaded.value.config);
    const checkout = /- uses: actions\/checkout@v4\n(\s+with:[^\n]*\n(\s{8,}[^\n]*\n)*)?/.exec(yml);
    expect(checkout).not.toBeNull();
    // No `with: ref:` pins it to another branch: actions/checkout takes the ref the run was dispatched on.
    expect(checkout![1] ?? '').not.toMatch(/ref:/);
  });
});
