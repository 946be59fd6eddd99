import { unzipSync } from 'fflate';
import type { RunJob } from '../../app/ports.ts';
import { parseMetricsText } from '../../config/metrics.ts';
import type { FailureConclusion, PlanEvent } from '../../core/model.ts';
import { logTailOf } from '../shared/log-tail.ts';
import { type Octokit, type RepoRef, status } from './github-code-host.ts';
import { parseRunTitle, runInput, runTitle } from './run-ids.ts';

// Runs attempts as GitHub Actions workflow runs on self-hosted runners: dispatch (with the run id in the
// response where the server gives it, by title where it does not), re-run, cancel, and reading a finished
// run back as the event `decide` understands.

/** Artifacts and logs above this size are not read whole: an artifact fails the attempt, a log keeps its tail. */
export const MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024;
const METRICS_ARTIFACT = 'rea-metrics';

export interface WorkflowRunInfo {
  id: number;
  run_attempt?: number;
  status: string | null;
  conclusion: string | null;
  display_title?: string;
  name?: string | null;
  run_started_at?: string;
  created_at: string;
  updated_at: string;
}

export interface RunnerTarget extends RepoRef {
  workflow: string;
  ref: string;
}

/** Servers that answered 400 to return_run_details (GHES 3.20 and older); asked once per process. */
const noRunDetails = new Set<string>();

export class GithubActionsRunner {
  constructor(
    readonly octokit: Octokit,
    readonly target: RunnerTarget,
    private readonly opts: { findAttempts?: number; findDelayMs?: number } = {},
  ) {}

  private get serverKey(): string {
    return String(this.octokit.request.endpoint.DEFAULTS.baseUrl);
  }

  /** The run of this workflow with exactly this title, if GitHub has one. */
  async findByTitle(title: string): Promise<WorkflowRunInfo | undefined> {
    const { data } = await this.octokit.rest.actions.listWorkflowRuns({
      owner: this.target.owner,
      repo: this.target.repo,
      workflow_id: this.target.workflow,
      event: 'workflow_dispatch',
      branch: this.target.ref,
      per_page: 100,
    });
    return data.workflow_runs.find((r) => (r.display_title ?? r.name) === title) as
      | WorkflowRunInfo
      | undefined;
  }

  /**
   * Starts the attempt. A second delivery of the same job finds the first run by its title and starts
   * nothing. Returns the workflow run id when known (it may only arrive with the `requested` webhook).
   */
  async dispatch(job: RunJob): Promise<{ externalId?: string }> {
    const ref = { planId: job.planId, runId: job.runId, attempt: job.attempt };
    const title = runTitle(ref);
    const existing = await this.findByTitle(title);
    if (existing) return { externalId: String(existing.id) };
    const body = {
      owner: this.target.owner,
      repo: this.target.repo,
      workflow_id: this.target.workflow,
      ref: this.target.ref,
      inputs: {
        run_id: runInput(ref),
        overrides: JSON.stringify(job.overrides),
        fidelity: String(job.fidelity),
        seed: String(job.seed),
      },
    };
    const route = 'POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches' as const;
    if (!noRunDetails.has(this.serverKey)) {
      try {
        const res = await this.octokit.request(route, { ...body, return_run_details: true } as never);
        const data = res.data as { workflow_run_id?: number } | undefined;
        if (data && typeof data.workflow_run_id === 'number')
          return { externalId: String(data.workflow_run_id) };
        return this.awaitTitle(title);
      } catch (err) {
        // GitHub Enterprise Server before 3.21 rejects the parameter; fall back to matching by title.
        if (status(err) !== 400) throw err;
        noRunDetails.add(this.serverKey);
      }
    }
    await this.octokit.request(route, body);
    return this.awaitTitle(title);
  }

  private async awaitTitle(title: string): Promise<{ externalId?: string }> {
    const tries = this.opts.findAttempts ?? 5;
    for (let i = 0; i < tries; i++) {
      const run = await this.findByTitle(title);
      if (run) return { externalId: String(run.id) };
      await new Promise((r) => setTimeout(r, (this.opts.findDelayMs ?? 500) * (i + 1)));
    }
    return {};
  }

  /** A plain retry: the same workflow run again; GitHub counts it as the next `run_attempt`. */
  async rerun(externalId: string): Promise<void> {
    await this.octokit.rest.actions.reRunWorkflow({
      owner: this.target.owner,
      repo: this.target.repo,
      run_id: Number(externalId),
    });
  }

  async cancel(externalId: string): Promise<void> {
    try {
      await this.octokit.rest.actions.cancelWorkflowRun({
        owner: this.target.owner,
        repo: this.target.repo,
        run_id: Number(externalId),
      });
    } catch (err) {
      // 409: the run already finished; cancelling it is a no-op.
      if (status(err) !== 409) throw err;
    }
  }

  async getRun(externalId: string): Promise<WorkflowRunInfo | undefined> {
    try {
      const { data } = await this.octokit.rest.actions.getWorkflowRun({
        owner: this.target.owner,
        repo: this.target.repo,
        run_id: Number(externalId),
      });
      return data as WorkflowRunInfo;
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  /** Downloads behind GitHub's redirect: storage rejects the GitHub token, so the second hop goes without it. */
  private async download(
    route: string,
    params: Record<string, unknown>,
    keepTail: boolean,
  ): Promise<{ bytes: Uint8Array; truncated: boolean } | { tooLarge: number }> {
    const res = await this.octokit.request(route, { ...params, request: { redirect: 'manual' } });
    const location = (res.headers as Record<string, string | undefined>).location;
    let body: Response;
    if (location) {
      body = await fetch(location);
      if (!body.ok) throw new Error(`download of ${route} failed with HTTP ${body.status}`);
    } else if (res.data instanceof ArrayBuffer) {
      return { bytes: new Uint8Array(res.data), truncated: false };
    } else {
      return { bytes: Buffer.from(String(res.data ?? '')), truncated: false };
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    let dropped = false;
    const reader = body.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      chunks.push(value);
      if (total > MAX_DOWNLOAD_BYTES) {
        if (!keepTail) {
          await reader.cancel();
          return { tooLarge: total };
        }
        // Keep only the last MAX_DOWNLOAD_BYTES: the end of a log is where the error is.
        while (total - chunks[0]!.byteLength >= MAX_DOWNLOAD_BYTES) total -= chunks.shift()!.byteLength;
        dropped = true;
      }
    }
    return { bytes: Buffer.concat(chunks), truncated: dropped };
  }

  /** The event a finished workflow run means for its attempt. */
  async collect(args: {
    run: WorkflowRunInfo;
    attempt: number;
    metricName: string;
    gpus: number;
  }): Promise<PlanEvent> {
    const { run } = args;
    const ref = parseRunTitle(run.display_title ?? run.name);
    const runId = ref?.runId ?? '';
    const started = Date.parse(run.run_started_at ?? run.created_at);
    const durationSec = Math.max(0, (Date.parse(run.updated_at) - started) / 1000);
    const gpuHours = (durationSec * args.gpus) / 3600;
    const failed = (conclusion: FailureConclusion, reason: string, logExcerpt = ''): PlanEvent => ({
      type: 'run_failed',
      runId,
      attempt: args.attempt,
      conclusion,
      reason,
      logExcerpt,
      gpuHours,
      durationSec,
    });
    if (run.conclusion === 'success') {
      const { data } = await this.octokit.rest.actions.listWorkflowRunArtifacts({
        owner: this.target.owner,
        repo: this.target.repo,
        run_id: run.id,
        name: METRICS_ARTIFACT,
        per_page: 100,
      });
      const artifact = data.artifacts.find((a) => a.name === METRICS_ARTIFACT && !a.expired);
      if (!artifact) return failed('metrics_invalid', `the run uploaded no ${METRICS_ARTIFACT} artifact`);
      if (artifact.size_in_bytes > MAX_DOWNLOAD_BYTES) {
        return failed(
          'metrics_invalid',
          `the ${METRICS_ARTIFACT} artifact is ${(artifact.size_in_bytes / 1048576).toFixed(1)} MB, over the 10 MB limit`,
        );
      }
      const dl = await this.download(
        'GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}',
        { owner: this.target.owner, repo: this.target.repo, artifact_id: artifact.id, archive_format: 'zip' },
        false,
      );
      if ('tooLarge' in dl)
        return failed('metrics_invalid', `the ${METRICS_ARTIFACT} artifact is over the 10 MB limit`);
      let files: Record<string, Uint8Array>;
      try {
        files = unzipSync(dl.bytes);
      } catch (err) {
        return failed(
          'metrics_invalid',
          `the ${METRICS_ARTIFACT} artifact is not a valid zip: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const name = Object.keys(files).find((f) => f === 'metrics.json' || f.endsWith('/metrics.json'));
      const text = name ? Buffer.from(files[name]!).toString('utf8') : undefined;
      const parsed = parseMetricsText(text, args.metricName);
      if (!parsed.ok) return failed('metrics_invalid', parsed.reason);
      return {
        type: 'run_finished',
        runId,
        attempt: args.attempt,
        metrics: parsed.metrics,
        ...(parsed.steps !== undefined ? { steps: parsed.steps } : {}),
        gpuHours,
        durationSec,
      };
    }
    const conclusion: FailureConclusion =
      run.conclusion === 'timed_out'
        ? 'timed_out'
        : run.conclusion === 'cancelled'
          ? 'cancelled'
          : run.conclusion === 'startup_failure'
            ? 'startup_failure'
            : 'failure';
    const log = await this.failedJobLog(run);
    return failed(
      conclusion,
      `workflow run ${run.id} concluded ${run.conclusion ?? 'without a conclusion'}`,
      log,
    );
  }

  private async failedJobLog(run: WorkflowRunInfo): Promise<string> {
    try {
      const { data } = await this.octokit.rest.actions.listJobsForWorkflowRunAttempt({
        owner: this.target.owner,
        repo: this.target.repo,
        run_id: run.id,
        attempt_number: run.run_attempt ?? 1,
        per_page: 100,
      });
      const job =
        data.jobs.find(
          (j) => j.conclusion === 'failure' || j.conclusion === 'timed_out' || j.conclusion === 'cancelled',
        ) ?? data.jobs[0];
      if (!job) return '';
      const dl = await this.download(
        'GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs',
        { owner: this.target.owner, repo: this.target.repo, job_id: job.id },
        true,
      );
      if ('tooLarge' in dl) return '';
      return logTailOf(Buffer.from(dl.bytes).toString('utf8'));
    } catch (err) {
      // A missing log must not hide the failure itself; the runbooks still see the conclusion.
      if (status(err) === 404 || status(err) === 410) return '';
      throw err;
    }
  }
}
