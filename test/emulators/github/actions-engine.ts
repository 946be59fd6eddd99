import { createHash } from 'node:crypto';
import { strToU8, zipSync } from 'fflate';
import { type EmulatorServices, HttpError, nowIso } from './core.ts';
import { currentAttempt, isoSeconds } from './shapes.ts';
import type {
  ArtifactRecord,
  AttemptRecord,
  JobRecord,
  RepoRecord,
  StepRecord,
  WorkflowRecord,
  WorkflowRunRecord,
} from './state.ts';
import { type WorkflowRunAction, workflowRunPayload } from './webhook-payloads.ts';
import { type ParsedWorkflow, parseWorkflow, type WorkflowJobSpec } from './workflow-file.ts';

// GitHub Actions as rea sees it from outside: a dispatch queues a run, a runner picks it up, the run ends
// with a conclusion, logs and artifacts, and every transition is announced with a workflow_run webhook.
// The work itself is done by a Runner function the test provides (scripted outcomes, or commandRunner
// which really runs the job).

export type RunConclusion = 'success' | 'failure' | 'cancelled' | 'timed_out' | 'startup_failure';

export interface RunnerRun {
  owner: string;
  repo: string;
  /** File name of the workflow, e.g. `rea-experiment.yml`. */
  workflowFile: string;
  workflowPath: string;
  /** Branch (or tag) the run was dispatched on. */
  ref: string;
  sha: string;
  /** Dispatch inputs after defaults, as the strings a job sees. */
  inputs: Record<string, string>;
  runId: number;
  runAttempt: number;
  /** Aborted when the run is cancelled; a runner should stop its work. */
  signal: AbortSignal;
}

export interface RunnerOutcome {
  conclusion: RunConclusion;
  /** Run time to report; the run's end is then at least `started + durationSec` on the domain clock. */
  durationSec?: number;
  /** Job log text (one line per line; GitHub's timestamps are added). */
  log?: string;
  /** Artifacts to upload: name -> file name -> content. */
  artifacts?: Record<string, Record<string, string | Uint8Array>>;
  /** Never completes (until cancelled or finished with emulator.finishRun): for timeout tests. */
  stuck?: boolean;
}

export type Runner = (run: RunnerRun) => Promise<RunnerOutcome>;

export interface WorkflowEntry {
  record: WorkflowRecord;
  parsed: ParsedWorkflow;
}

const ARTIFACT_RETENTION_MS = 90 * 24 * 60 * 60 * 1000;

/** GitHub's log timestamps: ISO 8601 with 7 fractional digits. */
function logTimestamp(iso: string): string {
  return new Date(iso).toISOString().replace(/Z$/, '0000Z');
}

function mainStepIndex(job: WorkflowJobSpec): number {
  const i = job.steps.findIndex((s) => s.runsCommand);
  return i >= 0 ? i : Math.max(0, job.steps.length - 1);
}

export interface ActionsEngineDeps {
  services: EmulatorServices;
  sendWebhook: (event: string, payload: Record<string, unknown>) => void;
  track: <T>(p: Promise<T>) => Promise<T>;
}

export class ActionsEngine {
  private runner: Runner | undefined;

  constructor(private readonly deps: ActionsEngineDeps) {}

  private get s(): EmulatorServices {
    return this.deps.services;
  }

  setRunner(runner: Runner | undefined): void {
    this.runner = runner;
    if (!runner) return;
    // Runs that waited for a runner start now, oldest first.
    for (const run of [...this.s.state.runs.values()].sort((a, b) => a.id - b.id)) {
      const attempt = currentAttempt(run);
      const repo = this.s.state.repoById(run.repoId);
      if (attempt.status === 'queued' && repo) this.schedule(repo, run, attempt);
    }
  }

  /** Workflows are the `.github/workflows/*.yml` files on the default branch; ids are stable per path. */
  workflows(repo: RepoRecord): WorkflowEntry[] {
    const head = repo.git.resolve(`heads/${repo.defaultBranch}`);
    if (!head) return [];
    const files = repo.git.flatten(repo.git.commits.get(head)!.tree);
    const out: WorkflowEntry[] = [];
    for (const [path, entry] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!/^\.github\/workflows\/[^/]+\.ya?ml$/.test(path)) continue;
      let record = repo.workflows.get(path);
      if (!record) {
        record = { id: this.s.state.nextId('workflow'), path, createdAt: nowIso(this.s) };
        repo.workflows.set(path, record);
      }
      out.push({
        record,
        parsed: parseWorkflow(path, repo.git.blobs.get(entry.sha)?.toString('utf8') ?? ''),
      });
    }
    return out;
  }

  /** `workflow_id` may be the numeric id or the file name, as in GitHub's API. */
  findWorkflow(repo: RepoRecord, idOrFile: string): WorkflowEntry | undefined {
    return this.workflows(repo).find(
      (w) =>
        String(w.record.id) === idOrFile ||
        w.record.path === idOrFile ||
        w.record.path.split('/').pop() === idOrFile,
    );
  }

  dispatch(
    repo: RepoRecord,
    workflow: WorkflowEntry,
    parsed: ParsedWorkflow,
    ref: string,
    sha: string,
    inputs: Record<string, string>,
    displayTitle: string,
    actor: string,
  ): WorkflowRunRecord {
    const now = nowIso(this.s);
    const runNumber = (repo.nextRunNumber.get(workflow.record.id) ?? 0) + 1;
    repo.nextRunNumber.set(workflow.record.id, runNumber);
    const run: WorkflowRunRecord = {
      id: this.s.state.nextId('run'),
      repoId: repo.id,
      workflowId: workflow.record.id,
      workflowPath: workflow.record.path,
      workflowName: parsed.name,
      runNumber,
      event: 'workflow_dispatch',
      headBranch: ref,
      headSha: sha,
      displayTitle,
      inputs,
      actor,
      createdAt: now,
      attempts: [],
    };
    this.s.state.runs.set(run.id, run);
    this.newAttempt(repo, run, parsed);
    return run;
  }

  private newAttempt(repo: RepoRecord, run: WorkflowRunRecord, parsed: ParsedWorkflow): AttemptRecord {
    const now = nowIso(this.s);
    const attempt: AttemptRecord = {
      number: run.attempts.length + 1,
      status: 'queued',
      conclusion: null,
      createdAt: now,
      startedAt: now,
      updatedAt: now,
      completedAt: null,
      durationMs: 0,
      jobIds: [],
      artifactIds: [],
      checkSuiteId: this.s.state.nextId('checkSuite'),
      stuck: false,
      abort: new AbortController(),
    };
    run.attempts.push(attempt);
    const specs: WorkflowJobSpec[] = parsed.jobs.length
      ? parsed.jobs
      : [{ id: 'build', name: 'build', runsOn: [], steps: [] }];
    for (const spec of specs) {
      const job: JobRecord = {
        id: this.s.state.nextId('job'),
        runId: run.id,
        attempt: attempt.number,
        name: spec.name,
        labels: spec.runsOn,
        status: 'queued',
        conclusion: null,
        createdAt: now,
        startedAt: now,
        completedAt: null,
        steps: ['Set up job', ...spec.steps.map((st) => st.name), 'Complete job'].map(
          (name, i): StepRecord => ({
            name,
            number: i + 1,
            status: 'queued',
            conclusion: null,
            startedAt: null,
            completedAt: null,
          }),
        ),
        log: '',
        runnerName: null,
      };
      this.s.state.jobs.set(job.id, job);
      attempt.jobIds.push(job.id);
    }
    this.announce(repo, run, 'requested');
    if (this.runner) this.schedule(repo, run, attempt);
    return attempt;
  }

  private announce(repo: RepoRecord, run: WorkflowRunRecord, action: WorkflowRunAction): void {
    this.deps.sendWebhook(
      'workflow_run',
      workflowRunPayload(this.s.shapes, repo, run, action, run.workflowName),
    );
  }

  private schedule(repo: RepoRecord, run: WorkflowRunRecord, attempt: AttemptRecord): void {
    this.deps.track(this.execute(repo, run, attempt));
  }

  private jobSpec(repo: RepoRecord, run: WorkflowRunRecord, job: JobRecord): WorkflowJobSpec | undefined {
    const commit = repo.git.commits.get(run.headSha);
    const entry = commit ? repo.git.entryAt(commit.tree, run.workflowPath) : undefined;
    const text = entry ? (repo.git.blobs.get(entry.sha)?.toString('utf8') ?? '') : '';
    return parseWorkflow(run.workflowPath, text).jobs.find((j) => j.name === job.name);
  }

  private async execute(repo: RepoRecord, run: WorkflowRunRecord, attempt: AttemptRecord): Promise<void> {
    // Let the API response that queued the attempt go out before the runner picks it up.
    await new Promise((resolve) => setImmediate(resolve));
    const runner = this.runner;
    if (attempt.status !== 'queued' || !runner) return;
    const now = nowIso(this.s);
    attempt.status = 'in_progress';
    attempt.startedAt = now;
    attempt.updatedAt = now;
    for (const job of this.jobsOf(attempt)) {
      job.status = 'in_progress';
      job.startedAt = now;
      job.runnerName = 'emulated-runner-1';
      const main =
        mainStepIndex(this.jobSpec(repo, run, job) ?? { id: '', name: '', runsOn: [], steps: [] }) + 1;
      job.steps.forEach((step, i) => {
        if (i < main)
          Object.assign(step, {
            status: 'completed',
            conclusion: 'success',
            startedAt: now,
            completedAt: now,
          });
        else if (i === main) Object.assign(step, { status: 'in_progress', startedAt: now });
      });
    }
    this.announce(repo, run, 'in_progress');

    let outcome: RunnerOutcome;
    try {
      outcome = await runner({
        owner: repo.owner,
        repo: repo.name,
        workflowFile: run.workflowPath.split('/').pop()!,
        workflowPath: run.workflowPath,
        ref: run.headBranch,
        sha: run.headSha,
        inputs: { ...run.inputs },
        runId: run.id,
        runAttempt: attempt.number,
        signal: attempt.abort.signal,
      });
    } catch (e) {
      outcome = { conclusion: 'failure', log: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    // Cancelled while the runner worked: the cancellation already completed the attempt.
    if (attempt.completedAt !== null) return;
    if (outcome.stuck) {
      attempt.stuck = true;
      return;
    }
    this.complete(repo, run, attempt, outcome);
  }

  private jobsOf(attempt: AttemptRecord): JobRecord[] {
    return attempt.jobIds.map((id) => this.s.state.jobs.get(id)!).filter(Boolean);
  }

  private complete(
    repo: RepoRecord,
    run: WorkflowRunRecord,
    attempt: AttemptRecord,
    outcome: RunnerOutcome,
  ): void {
    const clock = this.s.now().getTime();
    const started = Date.parse(attempt.startedAt);
    const endMs =
      outcome.durationSec !== undefined
        ? Math.max(clock, started + outcome.durationSec * 1000)
        : Math.max(clock, started);
    const end = isoSeconds(new Date(endMs));
    attempt.status = 'completed';
    attempt.conclusion = outcome.conclusion;
    attempt.completedAt = end;
    attempt.updatedAt = end;
    attempt.durationMs =
      outcome.durationSec !== undefined ? Math.round(outcome.durationSec * 1000) : endMs - started;

    if (outcome.conclusion === 'startup_failure') {
      // A run that fails to start (bad workflow file, no runner group) has no jobs at all.
      for (const id of attempt.jobIds) this.s.state.jobs.delete(id);
      attempt.jobIds = [];
    }
    for (const job of this.jobsOf(attempt)) this.finishJob(repo, run, job, outcome, end);

    for (const [name, files] of Object.entries(outcome.artifacts ?? {})) {
      const entries = Object.fromEntries(
        Object.entries(files).map(([file, content]) => [
          file,
          typeof content === 'string' ? strToU8(content) : content,
        ]),
      );
      const zip = zipSync(entries);
      const artifact: ArtifactRecord = {
        id: this.s.state.nextId('artifact'),
        repoId: repo.id,
        runId: run.id,
        attempt: attempt.number,
        name,
        zip,
        digest: `sha256:${createHash('sha256').update(zip).digest('hex')}`,
        createdAt: end,
        expiresAt: isoSeconds(new Date(endMs + ARTIFACT_RETENTION_MS)),
      };
      this.s.state.artifacts.set(artifact.id, artifact);
      attempt.artifactIds.push(artifact.id);
    }
    this.announce(repo, run, 'completed');
  }

  private finishJob(
    repo: RepoRecord,
    run: WorkflowRunRecord,
    job: JobRecord,
    outcome: RunnerOutcome,
    end: string,
  ): void {
    const spec = this.jobSpec(repo, run, job);
    const main = mainStepIndex(spec ?? { id: '', name: '', runsOn: [], steps: [] }) + 1;
    const ok = outcome.conclusion === 'success';
    const last = job.steps.length - 1;
    job.steps.forEach((step, i) => {
      step.status = 'completed';
      step.startedAt ??= end;
      step.completedAt ??= end;
      if (step.conclusion) return;
      if (ok || i === last) step.conclusion = 'success';
      else if (i === main) step.conclusion = outcome.conclusion === 'failure' ? 'failure' : 'cancelled';
      else step.conclusion = i < main ? 'success' : 'skipped';
    });
    job.status = 'completed';
    job.conclusion = outcome.conclusion;
    job.completedAt = end;
    job.log = this.renderLog(repo, run, job, outcome, end);
  }

  private renderLog(
    repo: RepoRecord,
    run: WorkflowRunRecord,
    job: JobRecord,
    outcome: RunnerOutcome,
    end: string,
  ) {
    const start = logTimestamp(job.startedAt);
    const stop = logTimestamp(end);
    const mainStep = job.steps.find((st) => st.conclusion !== 'success' && st.conclusion !== 'skipped');
    const lines = [
      `${start} Requested labels: ${job.labels.join(', ')}`,
      `${start} Job defined at: ${repo.owner}/${repo.name}/${run.workflowPath}@refs/heads/${run.headBranch}`,
      `${start} Waiting for a runner to pick up this job...`,
      `${start} ##[group]Run ${mainStep?.name ?? job.name}`,
      ...(outcome.log ?? '')
        .replace(/\n$/, '')
        .split('\n')
        .filter((l, _i, all) => !(all.length === 1 && l === ''))
        .map((l) => `${start} ${l}`),
      `${stop} ##[endgroup]`,
    ];
    if (outcome.conclusion === 'failure') lines.push(`${stop} ##[error]Process completed with exit code 1.`);
    if (outcome.conclusion === 'cancelled') lines.push(`${stop} ##[error]The operation was canceled.`);
    if (outcome.conclusion === 'timed_out') {
      lines.push(
        `${stop} ##[error]The job running on runner ${job.runnerName} has exceeded the maximum execution time.`,
      );
    }
    lines.push(`${stop} Cleaning up orphan processes`);
    return `${lines.join('\n')}\n`;
  }

  /**
   * A new attempt of the whole run. For "re-run failed jobs" GitHub would carry successful jobs over; the
   * emulator reruns every job, which is the same thing for rea's single-job experiment workflow.
   */
  rerun(repo: RepoRecord, run: WorkflowRunRecord, failedOnly: boolean): void {
    const attempt = currentAttempt(run);
    if (attempt.status !== 'completed') throw new HttpError(403, 'This workflow is already running');
    if (failedOnly && attempt.conclusion === 'success')
      throw new HttpError(403, 'There are no failed jobs to re-run');
    const commit = repo.git.commits.get(run.headSha);
    const entry = commit ? repo.git.entryAt(commit.tree, run.workflowPath) : undefined;
    const parsed = parseWorkflow(
      run.workflowPath,
      entry ? (repo.git.blobs.get(entry.sha)?.toString('utf8') ?? '') : '',
    );
    this.newAttempt(repo, run, parsed);
  }

  cancel(repo: RepoRecord, run: WorkflowRunRecord): void {
    const attempt = currentAttempt(run);
    if (attempt.status === 'completed')
      throw new HttpError(409, 'Cannot cancel a workflow run that is completed.');
    attempt.abort.abort();
    this.complete(repo, run, attempt, { conclusion: 'cancelled' });
  }

  /** Ends an in-progress (typically stuck) run with an outcome, as if its runner had reported it. */
  finish(runId: number, outcome: RunnerOutcome): void {
    const run = this.s.state.runs.get(runId);
    const repo = run && this.s.state.repoById(run.repoId);
    if (!run || !repo) throw new Error(`no workflow run ${runId}`);
    const attempt = currentAttempt(run);
    if (attempt.status === 'completed') throw new Error(`workflow run ${runId} is already completed`);
    if (attempt.status === 'queued') {
      attempt.status = 'in_progress';
      attempt.startedAt = nowIso(this.s);
    }
    this.complete(repo, run, attempt, outcome);
  }
}
