import { strToU8, zipSync } from 'fflate';
import type { ActionsEngine } from './actions-engine.ts';
import {
  type EmulatorServices,
  HttpError,
  intParam,
  notFound,
  paginate,
  type RouteContext,
  type Routes,
  repoFor,
} from './core.ts';
import { actingUser } from './routes-issues.ts';
import {
  artifactShape,
  currentAttempt,
  jobShape,
  repoApiUrl,
  repoWebUrl,
  workflowRunShape,
  workflowShape,
} from './shapes.ts';
import type { RepoRecord, WorkflowRunRecord } from './state.ts';
import { checkDispatchInputs, parseWorkflow, renderRunName } from './workflow-file.ts';

// GitHub Actions endpoints: workflows, dispatch, runs and attempts, jobs, logs, artifacts, re-run, cancel.
// Logs and artifact archives answer 302 to a signed storage URL on the emulator (see server.ts), like
// GitHub's redirects to blob storage.

const RUN_STATUSES = new Set(['queued', 'in_progress', 'completed', 'requested', 'waiting', 'pending']);

function runFor(s: EmulatorServices, repo: RepoRecord, c: RouteContext): WorkflowRunRecord {
  const run = s.state.runs.get(intParam(c, 'run_id'));
  if (!run || run.repoId !== repo.id) throw notFound();
  return run;
}

/** GitHub's `created` qualifier: `>=x`, `>x`, `<=x`, `<x`, `a..b` (either side may be `*`), or a day. */
export function matchesCreated(createdAt: string, filter: string): boolean {
  const t = Date.parse(createdAt);
  const at = (s: string, endOfDay: boolean) => {
    if (s === '*') return endOfDay ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    const v = Date.parse(s);
    return /^\d{4}-\d{2}-\d{2}$/.test(s) && endOfDay ? v + 86_400_000 - 1 : v;
  };
  const range = /^(.+)\.\.(.+)$/.exec(filter);
  if (range) return t >= at(range[1]!, false) && t <= at(range[2]!, true);
  const cmp = /^(>=|<=|>|<)(.+)$/.exec(filter);
  if (cmp) {
    const [, op, value] = cmp as unknown as [string, string, string];
    if (op === '>=') return t >= at(value, false);
    if (op === '>') return t > at(value, true);
    if (op === '<=') return t <= at(value, true);
    return t < at(value, false);
  }
  return t >= at(filter, false) && t <= at(filter, true);
}

export function actionsRoutes(s: EmulatorServices, engine: ActionsEngine): Routes {
  const repo = (c: RouteContext) => repoFor(s, c);

  const listRuns = (c: RouteContext, workflowId?: number) => {
    const r = repo(c);
    const q = c.query;
    const status = q.get('status');
    const runs = [...s.state.runs.values()]
      .filter((run) => run.repoId === r.id)
      .filter((run) => workflowId === undefined || run.workflowId === workflowId)
      .filter((run) => !q.get('branch') || run.headBranch === q.get('branch'))
      .filter((run) => !q.get('event') || run.event === q.get('event'))
      .filter((run) => !q.get('actor') || run.actor.toLowerCase() === q.get('actor')!.toLowerCase())
      .filter((run) => !q.get('head_sha') || run.headSha === q.get('head_sha'))
      .filter((run) => !q.get('created') || matchesCreated(run.createdAt, q.get('created')!))
      .filter(
        (run) =>
          !q.get('check_suite_id') ||
          run.attempts.some((a) => String(a.checkSuiteId) === q.get('check_suite_id')),
      )
      .filter((run) => {
        if (!status) return true;
        const attempt = currentAttempt(run);
        return RUN_STATUSES.has(status) ? attempt.status === status : attempt.conclusion === status;
      })
      .sort((a, b) => b.id - a.id);
    const page = paginate(runs, c);
    return {
      status: 200,
      body: {
        total_count: runs.length,
        workflow_runs: page.items.map((run) => workflowRunShape(s.shapes, r, run)),
      },
      headers: page.headers,
    };
  };

  const jobsOf = (r: RepoRecord, run: WorkflowRunRecord, c: RouteContext, attempts: number[]) => {
    const jobs = attempts.flatMap((n) => run.attempts[n - 1]!.jobIds.map((id) => s.state.jobs.get(id)!));
    const page = paginate(jobs, c);
    return {
      status: 200,
      body: { total_count: jobs.length, jobs: page.items.map((j) => jobShape(s.shapes, r, run, j)) },
      headers: page.headers,
    };
  };

  const attemptNumber = (run: WorkflowRunRecord, c: RouteContext): number => {
    const n = intParam(c, 'attempt_number');
    if (n < 1 || n > run.attempts.length) throw notFound();
    return n;
  };

  const redirect = (location: string) => ({ status: 302, headers: { location } });

  return {
    'actions/list-repo-workflows': (c) => {
      const r = repo(c);
      const workflows = engine.workflows(r);
      const page = paginate(workflows, c);
      return {
        status: 200,
        body: {
          total_count: workflows.length,
          workflows: page.items.map((w) => workflowShape(s.shapes, r, w.record, w.parsed.name)),
        },
        headers: page.headers,
      };
    },

    'actions/get-workflow': (c) => {
      const r = repo(c);
      const w = engine.findWorkflow(r, c.params.workflow_id ?? '');
      if (!w) throw notFound();
      return { status: 200, body: workflowShape(s.shapes, r, w.record, w.parsed.name) };
    },

    'actions/create-workflow-dispatch': (c) => {
      const r = repo(c);
      const body = c.body as { ref: string; inputs?: Record<string, unknown>; return_run_details?: boolean };
      if (!s.returnRunDetails && body.return_run_details !== undefined) {
        // GitHub Enterprise Server before 3.21 does not know the key and rejects the request.
        throw new HttpError(400, 'Invalid request.\n\n"return_run_details" is not a permitted key.');
      }
      const workflow = engine.findWorkflow(r, c.params.workflow_id ?? '');
      if (!workflow) throw notFound();
      const refName = body.ref.replace(/^refs\/(heads|tags)\//, '');
      const sha = r.git.refs.get(`heads/${refName}`) ?? r.git.refs.get(`tags/${refName}`);
      if (!sha) throw new HttpError(422, `No ref found for: ${body.ref}`);
      const commit = r.git.commits.get(sha)!;
      const entry = r.git.entryAt(commit.tree, workflow.record.path);
      const parsed = parseWorkflow(
        workflow.record.path,
        entry ? (r.git.blobs.get(entry.sha)?.toString('utf8') ?? '') : '',
      );
      if (!entry || !parsed.dispatchInputs) {
        throw new HttpError(422, "Workflow does not have 'workflow_dispatch' trigger");
      }
      const checked = checkDispatchInputs(parsed.dispatchInputs, body.inputs);
      if (!checked.ok) throw new HttpError(422, checked.message);
      const actor = actingUser(s);
      const title = parsed.runName
        ? renderRunName(parsed.runName, { inputs: checked.inputs, actor, refName })
        : parsed.name;
      const run = engine.dispatch(r, workflow, parsed, refName, sha, checked.inputs, title, actor);
      if (!body.return_run_details) return { status: 204 };
      return {
        status: 200,
        body: {
          workflow_run_id: run.id,
          run_url: `${repoApiUrl(s.shapes, r)}/actions/runs/${run.id}`,
          html_url: `${repoWebUrl(s.shapes, r)}/actions/runs/${run.id}`,
        },
      };
    },

    'actions/list-workflow-runs-for-repo': (c) => listRuns(c),

    'actions/list-workflow-runs': (c) => {
      const w = engine.findWorkflow(repo(c), c.params.workflow_id ?? '');
      if (!w) throw notFound();
      return listRuns(c, w.record.id);
    },

    'actions/get-workflow-run': (c) => {
      const r = repo(c);
      return { status: 200, body: workflowRunShape(s.shapes, r, runFor(s, r, c)) };
    },

    'actions/get-workflow-run-attempt': (c) => {
      const r = repo(c);
      const run = runFor(s, r, c);
      return { status: 200, body: workflowRunShape(s.shapes, r, run, attemptNumber(run, c)) };
    },

    'actions/list-jobs-for-workflow-run': (c) => {
      const r = repo(c);
      const run = runFor(s, r, c);
      const all = c.query.get('filter') === 'all';
      const attempts = all ? run.attempts.map((a) => a.number) : [run.attempts.length];
      return jobsOf(r, run, c, attempts);
    },

    'actions/list-jobs-for-workflow-run-attempt': (c) => {
      const r = repo(c);
      const run = runFor(s, r, c);
      return jobsOf(r, run, c, [attemptNumber(run, c)]);
    },

    'actions/get-job-for-workflow-run': (c) => {
      const r = repo(c);
      const job = s.state.jobs.get(intParam(c, 'job_id'));
      const run = job && s.state.runs.get(job.runId);
      if (!job || !run || run.repoId !== r.id) throw notFound();
      return { status: 200, body: jobShape(s.shapes, r, run, job) };
    },

    'actions/download-job-logs-for-workflow-run': (c) => {
      const r = repo(c);
      const job = s.state.jobs.get(intParam(c, 'job_id'));
      const run = job && s.state.runs.get(job.runId);
      if (!job || !run || run.repoId !== r.id) throw notFound();
      return redirect(s.storage.url(`/storage/logs/jobs/${job.id}.txt`));
    },

    'actions/download-workflow-run-logs': (c) => {
      const r = repo(c);
      const run = runFor(s, r, c);
      return redirect(s.storage.url(`/storage/logs/runs/${run.id}/attempts/${run.attempts.length}.zip`));
    },

    'actions/download-workflow-run-attempt-logs': (c) => {
      const r = repo(c);
      const run = runFor(s, r, c);
      return redirect(s.storage.url(`/storage/logs/runs/${run.id}/attempts/${attemptNumber(run, c)}.zip`));
    },

    'actions/re-run-workflow': (c) => {
      const r = repo(c);
      engine.rerun(r, runFor(s, r, c), false);
      return { status: 201, body: {} };
    },

    'actions/re-run-workflow-failed-jobs': (c) => {
      const r = repo(c);
      engine.rerun(r, runFor(s, r, c), true);
      return { status: 201, body: {} };
    },

    'actions/re-run-job-for-workflow-run': (c) => {
      const r = repo(c);
      const job = s.state.jobs.get(intParam(c, 'job_id'));
      const run = job && s.state.runs.get(job.runId);
      if (!job || !run || run.repoId !== r.id) throw notFound();
      engine.rerun(r, run, false);
      return { status: 201, body: {} };
    },

    'actions/cancel-workflow-run': (c) => {
      const r = repo(c);
      engine.cancel(r, runFor(s, r, c));
      return { status: 202, body: {} };
    },

    'actions/force-cancel-workflow-run': (c) => {
      const r = repo(c);
      engine.cancel(r, runFor(s, r, c));
      return { status: 202, body: {} };
    },

    'actions/list-workflow-run-artifacts': (c) => {
      const r = repo(c);
      const run = runFor(s, r, c);
      const name = c.query.get('name');
      // Newest attempt first, so the first `rea-metrics` is the latest attempt's.
      const artifacts = run.attempts
        .flatMap((a) => a.artifactIds.map((id) => s.state.artifacts.get(id)!))
        .filter((a) => !name || a.name === name)
        .sort((a, b) => b.id - a.id);
      const page = paginate(artifacts, c);
      return {
        status: 200,
        body: {
          total_count: artifacts.length,
          artifacts: page.items.map((a) => artifactShape(s.shapes, r, run, a)),
        },
        headers: page.headers,
      };
    },

    'actions/list-artifacts-for-repo': (c) => {
      const r = repo(c);
      const name = c.query.get('name');
      const artifacts = [...s.state.artifacts.values()]
        .filter((a) => a.repoId === r.id && (!name || a.name === name))
        .sort((a, b) => b.id - a.id);
      const page = paginate(artifacts, c);
      return {
        status: 200,
        body: {
          total_count: artifacts.length,
          artifacts: page.items.map((a) => artifactShape(s.shapes, r, s.state.runs.get(a.runId)!, a)),
        },
        headers: page.headers,
      };
    },

    'actions/get-artifact': (c) => {
      const r = repo(c);
      const artifact = s.state.artifacts.get(intParam(c, 'artifact_id'));
      if (!artifact || artifact.repoId !== r.id) throw notFound();
      return { status: 200, body: artifactShape(s.shapes, r, s.state.runs.get(artifact.runId)!, artifact) };
    },

    'actions/download-artifact': (c) => {
      const r = repo(c);
      const artifact = s.state.artifacts.get(intParam(c, 'artifact_id'));
      if (!artifact || artifact.repoId !== r.id || c.params.archive_format !== 'zip') throw notFound();
      return redirect(s.storage.url(`/storage/artifacts/${artifact.id}.zip`));
    },

    'actions/get-workflow-run-usage': (c) => {
      const r = repo(c);
      const attempt = currentAttempt(runFor(s, r, c));
      // Self-hosted runners are not billed, so `billable` is empty, as GitHub reports it.
      return { status: 200, body: { billable: {}, run_duration_ms: attempt.durationMs } };
    },
  };
}

/** Bytes served by the storage URLs that the log and artifact endpoints redirect to. */
export function storageObject(
  s: EmulatorServices,
  path: string,
): { contentType: string; data: Uint8Array; fileName?: string } | undefined {
  const artifact = /^\/storage\/artifacts\/(\d+)\.zip$/.exec(path);
  if (artifact) {
    const a = s.state.artifacts.get(Number(artifact[1]));
    return a && { contentType: 'application/zip', data: a.zip, fileName: `${a.name}.zip` };
  }
  const jobLog = /^\/storage\/logs\/jobs\/(\d+)\.txt$/.exec(path);
  if (jobLog) {
    const job = s.state.jobs.get(Number(jobLog[1]));
    return job && { contentType: 'text/plain; charset=utf-8', data: strToU8(job.log) };
  }
  const runLogs = /^\/storage\/logs\/runs\/(\d+)\/attempts\/(\d+)\.zip$/.exec(path);
  if (runLogs) {
    const run = s.state.runs.get(Number(runLogs[1]));
    const attempt = run?.attempts[Number(runLogs[2]) - 1];
    if (!attempt) return undefined;
    const files: Record<string, Uint8Array> = {};
    attempt.jobIds.forEach((id, i) => {
      const job = s.state.jobs.get(id)!;
      files[`${i}_${job.name}.txt`] = strToU8(job.log);
    });
    return { contentType: 'application/zip', data: zipSync(files), fileName: `logs_${run!.id}.zip` };
  }
  return undefined;
}
