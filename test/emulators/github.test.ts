import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { verify } from '@octokit/webhooks-methods';
import { strFromU8, unzipSync } from 'fflate';
import { createNodeMiddleware, createProbot } from 'probot';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  commandRunner,
  EXPERIMENT_WORKFLOW,
  EXPERIMENT_WORKFLOW_PATH,
  type GithubEmulator,
  type RunnerOutcome,
  type RunnerRun,
  startGithubEmulator,
  UnthrottledProbotOctokit,
  validateWebhookPayload,
} from './github/index.ts';

const APP_ID = 4242;
const SECRET = 'webhook-secret';
const OWNER = 'acme';
const REPO = 'ctr-ranker';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A bare webhook receiver: records what arrives and answers 200. */
async function startReceiver(): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function octokitFor(emulator: GithubEmulator, installationId: number) {
  return new UnthrottledProbotOctokit({
    auth: { appId: APP_ID, privateKey: emulator.privateKey, installationId },
    baseUrl: emulator.apiUrl,
  });
}

function addModelRepo(emulator: GithubEmulator) {
  return emulator.addRepo({
    owner: OWNER,
    repo: REPO,
    files: {
      'README.md': '# ctr-ranker\n',
      '.rea.yml': 'model: ctr-ranker\n',
      [EXPERIMENT_WORKFLOW_PATH]: EXPERIMENT_WORKFLOW,
    },
    collaborators: { alice: 'write', carol: 'read' },
    teams: { 'acme/ranking-leads': ['bob'] },
  });
}

const metricsOutcome = (run: RunnerRun): RunnerOutcome => ({
  conclusion: 'success',
  durationSec: 42,
  log: `run ${run.inputs.run_id}: fidelity ${run.inputs.fidelity}\nstep 50 loss 0.2385`,
  artifacts: { 'rea-metrics': { 'metrics.json': JSON.stringify({ metrics: { ne: 0.8123 }, steps: 12 }) } },
});

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function emulatorWith(opts: Partial<Parameters<typeof startGithubEmulator>[0]> = {}) {
  const emulator = await startGithubEmulator({ appId: APP_ID, webhookSecret: SECRET, ...opts });
  cleanup.push(() => emulator.close());
  return emulator;
}

describe('GitHub emulator', () => {
  it('serves the whole bot round trip to a ProbotOctokit, within the OpenAPI description', async () => {
    const receiver = await startReceiver();
    cleanup.push(receiver.close);
    const emulator = await emulatorWith({ webhookUrl: receiver.url });
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const o = { owner: OWNER, repo: REPO };

    // App JWT and installation token.
    const { data: app } = await octokit.rest.apps.getAuthenticated();
    expect(app?.slug).toBe('rea');
    const { data: installation } = await octokit.rest.apps.getRepoInstallation(o);
    expect(installation.id).toBe(repo.installationId);
    const auth = (await octokit.auth({ type: 'installation' })) as { token: string };
    expect(auth.token).toMatch(/^ghs_/);

    // Branch and commit through the git data API.
    const { data: main } = await octokit.rest.git.getRef({ ...o, ref: 'heads/main' });
    const { data: base } = await octokit.rest.git.getCommit({ ...o, commit_sha: main.object.sha });
    const { data: tree } = await octokit.rest.git.createTree({
      ...o,
      base_tree: base.tree.sha,
      tree: [
        { path: 'experiments/plans/p1.md', mode: '100644', type: 'blob', content: '# Plan p1\n' },
        { path: 'experiments/plans/p1.json', mode: '100644', type: 'blob', content: '{"id":"p1"}\n' },
      ],
    });
    const { data: commit } = await octokit.rest.git.createCommit({
      ...o,
      message: 'rea: plan p1',
      tree: tree.sha,
      parents: [main.object.sha],
    });
    await octokit.rest.git.createRef({ ...o, ref: 'refs/heads/rea/plan-p1', sha: commit.sha });
    const { data: file } = await octokit.rest.repos.getContent({
      ...o,
      path: 'experiments/plans/p1.md',
      ref: 'rea/plan-p1',
    });
    expect(Buffer.from((file as { content: string }).content, 'base64').toString()).toBe('# Plan p1\n');
    const { data: readme } = await octokit.rest.repos.getContent({ ...o, path: 'README.md' });
    await octokit.rest.repos.createOrUpdateFileContents({
      ...o,
      path: 'README.md',
      branch: 'rea/plan-p1',
      message: 'touch readme',
      content: Buffer.from('# ctr-ranker\nwith rea\n').toString('base64'),
      sha: (readme as { sha: string }).sha,
    });

    // Plan PR, sticky comment, check run.
    const { data: pr } = await octokit.rest.pulls.create({
      ...o,
      title: 'rea plan p1',
      head: 'rea/plan-p1',
      base: 'main',
      body: 'plan',
    });
    const { data: files } = await octokit.rest.pulls.listFiles({ ...o, pull_number: pr.number });
    expect(files.map((f) => f.filename).sort()).toEqual([
      'README.md',
      'experiments/plans/p1.json',
      'experiments/plans/p1.md',
    ]);
    const { data: open } = await octokit.rest.pulls.list({
      ...o,
      head: `${OWNER}:rea/plan-p1`,
      state: 'open',
    });
    expect(open.map((p) => p.number)).toEqual([pr.number]);
    const { data: sticky } = await octokit.rest.issues.createComment({
      ...o,
      issue_number: pr.number,
      body: '<!-- rea:progress -->\nqueued',
    });
    const comments = await octokit.paginate(octokit.rest.issues.listComments, {
      ...o,
      issue_number: pr.number,
    });
    expect(comments.find((c) => c.body?.startsWith('<!-- rea:progress -->'))?.id).toBe(sticky.id);
    await octokit.rest.issues.updateComment({
      ...o,
      comment_id: sticky.id,
      body: '<!-- rea:progress -->\nrunning',
    });
    expect((await octokit.rest.issues.getComment({ ...o, comment_id: sticky.id })).data.body).toContain(
      'running',
    );
    await octokit.rest.issues.addLabels({ ...o, issue_number: pr.number, labels: ['rea'] });
    const { data: check } = await octokit.rest.checks.create({
      ...o,
      name: 'rea',
      head_sha: pr.head.sha,
      status: 'in_progress',
      output: { title: 'Plan p1', summary: 'running' },
    });
    const { data: done } = await octokit.rest.checks.update({
      ...o,
      check_run_id: check.id,
      conclusion: 'success',
      output: { title: 'Plan p1', summary: 'done' },
    });
    expect(done.status).toBe('completed');

    // Who may approve.
    const { data: perm } = await octokit.rest.repos.getCollaboratorPermissionLevel({
      ...o,
      username: 'alice',
    });
    expect(perm.permission).toBe('write');
    const { data: member } = await octokit.rest.teams.getMembershipForUserInOrg({
      org: OWNER,
      team_slug: 'ranking-leads',
      username: 'bob',
    });
    expect(member.state).toBe('active');
    await expect(
      octokit.rest.teams.getMembershipForUserInOrg({
        org: OWNER,
        team_slug: 'ranking-leads',
        username: 'alice',
      }),
    ).rejects.toMatchObject({ status: 404 });

    // Dispatch with run details, wait, read the run back.
    emulator.setRunner(async (run) => metricsOutcome(run));
    const { data: dispatched, status } = await octokit.rest.actions.createWorkflowDispatch({
      ...o,
      workflow_id: 'rea-experiment.yml',
      ref: 'main',
      inputs: { run_id: 'r-1', fidelity: '0.1' },
      return_run_details: true,
    });
    expect(status).toBe(200);
    const runId = (dispatched as unknown as { workflow_run_id: number }).workflow_run_id;
    await emulator.settle();
    const { data: runs } = await octokit.rest.actions.listWorkflowRunsForRepo({
      ...o,
      event: 'workflow_dispatch',
      branch: 'main',
      created: `>=${new Date(Date.now() - 60_000).toISOString()}`,
      per_page: 10,
    });
    const run = runs.workflow_runs.find((r) => r.id === runId);
    expect(run).toMatchObject({
      display_title: 'rea r-1',
      status: 'completed',
      conclusion: 'success',
      run_attempt: 1,
    });
    const { data: jobs } = await octokit.rest.actions.listJobsForWorkflowRun({ ...o, run_id: runId });
    expect(jobs.jobs[0]).toMatchObject({
      name: 'train',
      conclusion: 'success',
      labels: ['self-hosted', 'gpu'],
    });
    expect(jobs.jobs[0]!.steps!.map((s) => s.name)).toContain('Train');
    const { data: log } = await octokit.rest.actions.downloadJobLogsForWorkflowRun({
      ...o,
      job_id: jobs.jobs[0]!.id,
    });
    expect(String(log)).toContain('step 50 loss 0.2385');
    const { data: timing } = await octokit.rest.actions.getWorkflowRunUsage({ ...o, run_id: runId });
    expect(timing.run_duration_ms).toBe(42_000);

    // The artifact: the API redirects to storage, which must be fetched without the GitHub token.
    const { data: artifacts } = await octokit.rest.actions.listWorkflowRunArtifacts({ ...o, run_id: runId });
    expect(artifacts.artifacts.map((a) => a.name)).toEqual(['rea-metrics']);
    const redirect = await octokit.rest.actions.downloadArtifact({
      ...o,
      artifact_id: artifacts.artifacts[0]!.id,
      archive_format: 'zip',
      request: { redirect: 'manual' },
    });
    expect(redirect.status).toBe(302);
    const location = (redirect.headers as Record<string, string>).location!;
    expect(location.startsWith(`${emulator.webUrl}/storage/`)).toBe(true);
    const zip = await fetch(location);
    expect(zip.status).toBe(200);
    const unzipped = unzipSync(new Uint8Array(await zip.arrayBuffer()));
    expect(JSON.parse(strFromU8(unzipped['metrics.json']!))).toEqual({ metrics: { ne: 0.8123 }, steps: 12 });

    // Re-run makes a new attempt; cancel ends a running run as cancelled.
    expect((await octokit.rest.actions.reRunWorkflow({ ...o, run_id: runId })).status).toBe(201);
    await emulator.settle();
    const { data: rerun } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: runId });
    expect(rerun).toMatchObject({ run_attempt: 2, conclusion: 'success' });
    expect(rerun.previous_attempt_url).toMatch(/attempts\/1$/);
    const { data: first } = await octokit.rest.actions.getWorkflowRunAttempt({
      ...o,
      run_id: runId,
      attempt_number: 1,
    });
    expect(first.run_attempt).toBe(1);

    emulator.setRunner(async () => ({ conclusion: 'success', stuck: true }));
    await octokit.rest.actions.createWorkflowDispatch({
      ...o,
      workflow_id: 'rea-experiment.yml',
      ref: 'main',
      inputs: { run_id: 'r-2' },
    });
    await emulator.settle();
    const { data: byTitle } = await octokit.rest.actions.listWorkflowRuns({
      ...o,
      workflow_id: 'rea-experiment.yml',
      status: 'in_progress',
    });
    const stuck = byTitle.workflow_runs.find((r) => r.display_title === 'rea r-2')!;
    expect(stuck.status).toBe('in_progress');
    expect((await octokit.rest.actions.cancelWorkflowRun({ ...o, run_id: stuck.id })).status).toBe(202);
    await emulator.settle();
    const { data: cancelled } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: stuck.id });
    expect(cancelled).toMatchObject({ status: 'completed', conclusion: 'cancelled' });

    // Every transition was announced, signed, and accepted by the receiver.
    const events = emulator.deliveries.map(
      (d) => `${(d.payload.workflow_run as { id: number }).id === runId ? 'r1' : 'r2'}:${d.action}`,
    );
    expect(events).toEqual([
      'r1:requested',
      'r1:in_progress',
      'r1:completed',
      'r1:requested',
      'r1:in_progress',
      'r1:completed',
      'r2:requested',
      'r2:in_progress',
      'r2:completed',
    ]);
    expect(emulator.deliveries.every((d) => d.status === 200)).toBe(true);
    expect(receiver.received).toHaveLength(9);
    for (const r of receiver.received) {
      expect(r.headers['x-github-event']).toBe('workflow_run');
      expect(r.headers['x-github-delivery']).toMatch(/^[0-9a-f-]{36}$/);
      expect(await verify(SECRET, r.body, String(r.headers['x-hub-signature-256']))).toBe(true);
      expect(validateWebhookPayload('workflow_run', JSON.parse(r.body))).toEqual([]);
    }
    expect(emulator.violations).toEqual([]);
  });

  it('records requests that the OpenAPI description rejects, and unknown endpoints', async () => {
    const emulator = await emulatorWith();
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const o = { owner: OWNER, repo: REPO };
    // Untyped on purpose: these requests are wrong, and Octokit's types would refuse to send them.
    const send = (route: string, params: Record<string, unknown>) => octokit.request(route, params);

    await expect(
      send('POST /repos/{owner}/{repo}/check-runs', {
        ...o,
        name: 'rea',
        head_sha: repo.headSha,
        status: 'bogus',
      }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(
      send('POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches', {
        ...o,
        workflow_id: 'rea-experiment.yml',
        ref: 123,
      }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(send('GET /repos/{owner}/{repo}/hooks', o)).rejects.toMatchObject({
      status: 404,
    });

    expect(emulator.violations).toEqual([
      expect.objectContaining({
        operationId: 'checks/create',
        where: 'request',
        message: expect.stringMatching(/status/),
      }),
      expect.objectContaining({
        operationId: 'actions/create-workflow-dispatch',
        where: 'request',
        message: expect.stringMatching(/body\/ref must be string/),
      }),
      expect.objectContaining({ path: `/repos/${OWNER}/${REPO}/hooks`, where: 'request' }),
    ]);
    expect(emulator.violations[2]!.operationId).toBeUndefined();
  });

  it('enforces GitHub authentication and blob storage rules', async () => {
    const emulator = await emulatorWith();
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);

    expect((await fetch(`${emulator.apiUrl}/repos/${OWNER}/${REPO}`)).status).toBe(401);
    expect(
      (
        await fetch(`${emulator.apiUrl}/repos/${OWNER}/${REPO}`, {
          headers: { authorization: 'token ghs_nope' },
        })
      ).status,
    ).toBe(401);
    expect(
      (await fetch(`${emulator.apiUrl}/app`, { headers: { authorization: 'Bearer not.a.jwt' } })).status,
    ).toBe(401);

    emulator.setRunner(async (run) => metricsOutcome(run));
    const { data } = await octokit.rest.actions.createWorkflowDispatch({
      owner: OWNER,
      repo: REPO,
      workflow_id: 'rea-experiment.yml',
      ref: 'main',
      inputs: { run_id: 'r-9' },
      return_run_details: true,
    });
    await emulator.settle();
    const runId = (data as unknown as { workflow_run_id: number }).workflow_run_id;
    const { data: artifacts } = await octokit.rest.actions.listWorkflowRunArtifacts({
      owner: OWNER,
      repo: REPO,
      run_id: runId,
    });
    const artifactId = artifacts.artifacts[0]!.id;
    const { headers } = await octokit.rest.actions.downloadArtifact({
      owner: OWNER,
      repo: REPO,
      artifact_id: artifactId,
      archive_format: 'zip',
      request: { redirect: 'manual' },
    });
    const location = headers.location!;
    const withToken = await fetch(location, { headers: { authorization: `token ${'ghs_whatever'}` } });
    expect([400, 403]).toContain(withToken.status);
    // Following the redirect automatically keeps the header on a same-origin redirect, so it fails too.
    await expect(
      octokit.rest.actions.downloadArtifact({
        owner: OWNER,
        repo: REPO,
        artifact_id: artifactId,
        archive_format: 'zip',
      }),
    ).rejects.toMatchObject({ status: 400 });
    expect((await fetch(location.replace(/sig=[0-9a-f]+/, 'sig=0'))).status).toBe(403);
    expect((await fetch(location)).status).toBe(200);
    expect(emulator.violations).toEqual([]);
  });

  it('answers return_run_details with 400 when emulating GHES 3.20 and older', async () => {
    const emulator = await emulatorWith({ returnRunDetails: false });
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const dispatch = { owner: OWNER, repo: REPO, workflow_id: 'rea-experiment.yml', ref: 'main' };

    await expect(
      octokit.rest.actions.createWorkflowDispatch({
        ...dispatch,
        inputs: { run_id: 'r-1' },
        return_run_details: true,
      }),
    ).rejects.toMatchObject({ status: 400 });
    const { status } = await octokit.rest.actions.createWorkflowDispatch({
      ...dispatch,
      inputs: { run_id: 'r-1' },
    });
    expect(status).toBe(204);
    // The run is found by its title instead.
    const { data } = await octokit.rest.actions.listWorkflowRuns({ ...dispatch, event: 'workflow_dispatch' });
    expect(data.workflow_runs.map((r) => r.display_title)).toEqual(['rea r-1']);
    // GitHub's own input checks.
    await expect(
      octokit.rest.actions.createWorkflowDispatch({ ...dispatch, inputs: { run_id: 'r-2', bogus: 'x' } }),
    ).rejects.toMatchObject({ status: 422, message: expect.stringContaining('Unexpected inputs provided') });
    await expect(
      octokit.rest.actions.createWorkflowDispatch({ ...dispatch, inputs: {} }),
    ).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining("Required input 'run_id' not provided"),
    });
    expect(emulator.violations).toEqual([]);
  });

  it('sends signed webhooks whose payloads validate, to a real Probot app', async () => {
    const emulator = await emulatorWith();
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const o = { owner: OWNER, repo: REPO };
    await octokit.rest.git.createRef({ ...o, ref: 'refs/heads/rea/plan-p2', sha: repo.headSha });
    emulator.commit({ ...o, branch: 'rea/plan-p2', files: { 'experiments/plans/p2.md': '# p2\n' } });
    const { data: pr } = await octokit.rest.pulls.create({
      ...o,
      title: 'plan p2',
      head: 'rea/plan-p2',
      base: 'main',
    });

    // Probot configured the way `rea serve` would be: GHE_HOST + GHE_PROTOCOL=http.
    const seen: string[] = [];
    const probot = createProbot({
      env: {
        APP_ID: String(APP_ID),
        PRIVATE_KEY: emulator.privateKey,
        WEBHOOK_SECRET: SECRET,
        GHE_HOST: emulator.host,
        GHE_PROTOCOL: 'http',
        LOG_LEVEL: 'fatal',
      },
      overrides: { Octokit: UnthrottledProbotOctokit },
    });
    const middleware = await createNodeMiddleware(
      (app) => {
        app.on('pull_request_review.submitted', async (context) => {
          const login = context.payload.review.user?.login ?? '';
          seen.push(`review:${context.payload.review.state}:${login}`);
          const { data } = await context.octokit.rest.repos.getCollaboratorPermissionLevel(
            context.repo({ username: login }),
          );
          await context.octokit.rest.issues.createComment(
            context.issue({ body: `approved by ${data.permission} collaborator` }),
          );
        });
        app.on('issue_comment.created', async (context) => {
          seen.push(
            `comment:${context.payload.comment.body}:${context.payload.issue.pull_request ? 'pr' : 'issue'}`,
          );
        });
      },
      { probot },
    );
    const server = createServer((req, res) => void middleware(req, res, () => res.writeHead(404).end()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => closeServer(server));
    emulator.webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`;

    const review = await emulator.submitReview({
      ...o,
      pull_number: pr.number,
      user: 'alice',
      state: 'approved',
    });
    const comment = await emulator.comment({
      ...o,
      issue_number: pr.number,
      user: 'bob',
      body: '/rea status',
    });
    const { data: issue } = await octokit.rest.issues.create({ ...o, title: 'rea init' });
    await emulator.comment({ ...o, issue_number: issue.number, user: 'bob', body: '/rea init' });
    await emulator.submitReview({
      ...o,
      pull_number: pr.number,
      user: 'carol',
      state: 'changes_requested',
      body: 'no',
    });
    expect([review.status, comment.status]).toEqual([200, 200]);
    expect(seen).toEqual([
      'review:approved:alice',
      'comment:/rea status:pr',
      'comment:/rea init:issue',
      'review:changes_requested:carol',
    ]);
    const { data: comments } = await octokit.rest.issues.listComments({ ...o, issue_number: pr.number });
    expect(comments.map((c) => c.body)).toContain('approved by write collaborator');

    // Probot verified the signatures (it answers 400 otherwise); the payloads validate too.
    for (const d of emulator.deliveries)
      expect(validateWebhookPayload(d.event, JSON.parse(d.body))).toEqual([]);
    const opened = emulator.payloads.pullRequest({ ...o, pull_number: pr.number, action: 'opened' });
    expect(validateWebhookPayload('pull_request', opened)).toEqual([]);
    await octokit.rest.pulls.update({ ...o, pull_number: pr.number, state: 'closed' });
    const closed = emulator.payloads.pullRequest({ ...o, pull_number: pr.number, action: 'closed' });
    expect(validateWebhookPayload('pull_request', closed)).toEqual([]);
    expect(
      validateWebhookPayload(
        'installation',
        emulator.payloads.installation({ installation_id: repo.installationId }),
      ),
    ).toEqual([]);

    // Replays keep the delivery id; a switched-off emulator drops deliveries (for reconciler tests).
    const again = await emulator.redeliver(comment.id);
    expect(again).toMatchObject({ id: comment.id, redelivery: true, status: 200 });
    expect(seen).toHaveLength(5);
    emulator.deliverWebhooks = false;
    const dropped = await emulator.sendWebhook('pull_request', opened);
    expect(dropped).toMatchObject({ dropped: true, status: null });
    expect(emulator.violations).toEqual([]);
  });

  it('runs a real command as the job, with the run contract environment, and uploads its output', async () => {
    const emulator = await emulatorWith();
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const o = { owner: OWNER, repo: REPO };
    // A training job in miniature; double quotes only, since the shell wraps it in single quotes.
    const script = [
      'const fs = require("node:fs");',
      'const path = require("node:path");',
      'const o = JSON.parse(process.env.REA_OVERRIDES);',
      'if (o.fail) { console.error("CUDA out of memory"); process.exit(1); }',
      'fs.writeFileSync(path.join(process.env.REA_OUTPUT_DIR, "metrics.json"), JSON.stringify({',
      '  metrics: { ne: 0.8 + Number(process.env.REA_SEED) / 1000 }, steps: 10,',
      '  run: process.env.REA_RUN_ID, fidelity: process.env.REA_FIDELITY }));',
      'console.log("trained");',
    ].join('\n');
    emulator.setRunner(commandRunner({ cwd: process.cwd(), command: `node -e '${script}'` }));

    const dispatch = async (inputs: Record<string, string>) => {
      const { data } = await octokit.rest.actions.createWorkflowDispatch({
        ...o,
        workflow_id: 'rea-experiment.yml',
        ref: 'main',
        inputs,
        return_run_details: true,
      });
      return (data as unknown as { workflow_run_id: number }).workflow_run_id;
    };
    const ok = await dispatch({ run_id: 'r-7', overrides: '{"lr":0.1}', fidelity: '0.3', seed: '2' });
    const failed = await dispatch({ run_id: 'r-8', overrides: '{"fail":true}' });
    await emulator.settle();

    const { data: okRun } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: ok });
    expect(okRun.conclusion).toBe('success');
    const { data: artifacts } = await octokit.rest.actions.listWorkflowRunArtifacts({
      ...o,
      run_id: ok,
      name: 'rea-metrics',
    });
    const { headers } = await octokit.rest.actions.downloadArtifact({
      ...o,
      artifact_id: artifacts.artifacts[0]!.id,
      archive_format: 'zip',
      request: { redirect: 'manual' },
    });
    const zip = unzipSync(new Uint8Array(await (await fetch(headers.location!)).arrayBuffer()));
    expect(JSON.parse(strFromU8(zip['metrics.json']!))).toEqual({
      metrics: { ne: 0.802 },
      steps: 10,
      run: 'r-7',
      fidelity: '0.3',
    });

    const { data: failedRun } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: failed });
    expect(failedRun.conclusion).toBe('failure');
    const { data: failedJobs } = await octokit.rest.actions.listJobsForWorkflowRun({ ...o, run_id: failed });
    const { data: log } = await octokit.rest.actions.downloadJobLogsForWorkflowRun({
      ...o,
      job_id: failedJobs.jobs[0]!.id,
    });
    expect(String(log)).toMatch(/Z CUDA out of memory\n/);
    expect(
      (await octokit.rest.actions.listWorkflowRunArtifacts({ ...o, run_id: failed })).data.total_count,
    ).toBe(0);

    // Cancelling a running job kills its process group instead of waiting for it.
    emulator.setRunner(commandRunner({ cwd: process.cwd(), command: 'sleep 30' }));
    const slow = await dispatch({ run_id: 'r-slow' });
    await vi.waitFor(async () => {
      const { data } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: slow });
      expect(data.status).toBe('in_progress');
    });
    const started = Date.now();
    await octokit.rest.actions.cancelWorkflowRun({ ...o, run_id: slow });
    await emulator.settle();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await octokit.rest.actions.getWorkflowRun({ ...o, run_id: slow })).data.conclusion).toBe(
      'cancelled',
    );
    expect(emulator.violations).toEqual([]);
  });
  it('trains the example model as a workflow run', async () => {
    const emulator = await emulatorWith();
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const o = { owner: OWNER, repo: REPO };
    emulator.setRunner(
      commandRunner({
        cwd: fileURLToPath(new URL('../../examples/ctr-model', import.meta.url)),
        command: 'node --import tsx train.ts',
      }),
    );
    const { data } = await octokit.rest.actions.createWorkflowDispatch({
      ...o,
      workflow_id: 'rea-experiment.yml',
      ref: 'main',
      inputs: { run_id: 'r-ctr', overrides: '{"feature_crosses":true}', fidelity: '0.1', seed: '1' },
      return_run_details: true,
    });
    await emulator.settle();
    const runId = (data as unknown as { workflow_run_id: number }).workflow_run_id;
    const { data: run } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: runId });
    expect(run.conclusion).toBe('success');
    const { data: artifacts } = await octokit.rest.actions.listWorkflowRunArtifacts({ ...o, run_id: runId });
    const { headers } = await octokit.rest.actions.downloadArtifact({
      ...o,
      artifact_id: artifacts.artifacts[0]!.id,
      archive_format: 'zip',
      request: { redirect: 'manual' },
    });
    const zip = unzipSync(new Uint8Array(await (await fetch(headers.location!)).arrayBuffer()));
    const metrics = JSON.parse(strFromU8(zip['metrics.json']!)) as {
      metrics: Record<string, number>;
      steps: number;
    };
    expect(Number.isFinite(metrics.metrics.ne)).toBe(true);
    expect(metrics.steps).toBeGreaterThan(0);
    expect(emulator.violations).toEqual([]);
  });

  it('keeps run timestamps on the domain clock, and lets a test end a stuck run', async () => {
    let clock = Date.parse('2030-01-02T03:04:05Z');
    const emulator = await emulatorWith({ now: () => new Date(clock), deliverWebhooks: false });
    const repo = addModelRepo(emulator);
    const octokit = octokitFor(emulator, repo.installationId);
    const o = { owner: OWNER, repo: REPO };
    const dispatch = async (run_id: string) => {
      const { data } = await octokit.rest.actions.createWorkflowDispatch({
        ...o,
        workflow_id: 'rea-experiment.yml',
        ref: 'main',
        inputs: { run_id },
        return_run_details: true,
      });
      return (data as unknown as { workflow_run_id: number }).workflow_run_id;
    };

    emulator.setRunner(async () => ({ conclusion: 'success', stuck: true }));
    const stuckId = await dispatch('r-timeout');
    await emulator.settle();
    clock += 60_000;
    emulator.finishRun(stuckId, { conclusion: 'timed_out', durationSec: 3600 });
    const { data: stuck } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: stuckId });
    expect(stuck).toMatchObject({
      created_at: '2030-01-02T03:04:05Z',
      run_started_at: '2030-01-02T03:04:05Z',
      updated_at: '2030-01-02T04:04:05Z',
      conclusion: 'timed_out',
    });

    emulator.setRunner(async () => ({ conclusion: 'startup_failure' }));
    const brokenId = await dispatch('r-broken');
    await emulator.settle();
    const { data: broken } = await octokit.rest.actions.getWorkflowRun({ ...o, run_id: brokenId });
    expect(broken.conclusion).toBe('startup_failure');
    expect(
      (await octokit.rest.actions.listJobsForWorkflowRun({ ...o, run_id: brokenId })).data.total_count,
    ).toBe(0);

    // Webhooks were off: recorded (and validated) but not sent, ready for a reconciler test or a redelivery.
    expect(emulator.deliveries.map((d) => `${d.action}:${d.dropped}`)).toEqual([
      'requested:true',
      'in_progress:true',
      'completed:true',
      'requested:true',
      'in_progress:true',
      'completed:true',
    ]);
    expect(emulator.requests.every((r) => r.status < 500)).toBe(true);
    expect(emulator.violations).toEqual([]);
  });
});
