import {
  type EmulatorServices,
  intParam,
  notFound,
  nowIso,
  type RouteContext,
  type Routes,
  repoFor,
  validationFailed,
} from './core.ts';
import { checkRunShape } from './shapes.ts';
import type { CheckRunRecord, RepoRecord } from './state.ts';

// Check runs: rea keeps one on the plan PR's head commit and moves it as the plan progresses.

interface CheckRunBody {
  name?: string;
  head_sha?: string;
  details_url?: string;
  external_id?: string;
  status?: CheckRunRecord['status'];
  conclusion?: string;
  started_at?: string;
  completed_at?: string;
  output?: { title?: string; summary?: string; text?: string };
}

function apply(s: EmulatorServices, run: CheckRunRecord, body: CheckRunBody): void {
  if (body.name !== undefined) run.name = body.name;
  if (body.details_url !== undefined) run.detailsUrl = body.details_url;
  if (body.external_id !== undefined) run.externalId = body.external_id;
  if (body.output) {
    run.output = {
      title: body.output.title ?? run.output.title,
      summary: body.output.summary ?? run.output.summary,
      text: body.output.text ?? run.output.text,
    };
  }
  if (body.started_at !== undefined) run.startedAt = body.started_at;
  // GitHub completes a check run that is given a conclusion, whatever status was sent with it.
  if (body.conclusion !== undefined) {
    run.status = 'completed';
    run.conclusion = body.conclusion;
    run.completedAt = body.completed_at ?? nowIso(s);
  } else if (body.status !== undefined) {
    if (body.status === 'completed') {
      throw validationFailed(
        'CheckRun',
        'conclusion',
        'missing_field',
        'conclusion is required when status is completed',
      );
    }
    run.status = body.status;
    run.conclusion = null;
    run.completedAt = null;
  }
  if (run.status === 'in_progress' && !run.startedAt) run.startedAt = nowIso(s);
}

export function checkRoutes(s: EmulatorServices): Routes {
  const repo = (c: RouteContext) => repoFor(s, c);
  const find = (r: RepoRecord, c: RouteContext): CheckRunRecord => {
    const run = s.state.checkRuns.get(intParam(c, 'check_run_id'));
    if (!run || run.repoId !== r.id) throw notFound();
    return run;
  };

  return {
    'checks/create': (c) => {
      const r = repo(c);
      const body = c.body as CheckRunBody & { name: string; head_sha: string };
      if (!r.git.commits.has(body.head_sha)) {
        throw validationFailed(
          'CheckRun',
          'head_sha',
          'invalid',
          'No commit found for SHA: ' + body.head_sha,
        );
      }
      const run: CheckRunRecord = {
        id: s.state.nextId('checkRun'),
        repoId: r.id,
        name: body.name,
        headSha: body.head_sha,
        status: 'queued',
        conclusion: null,
        startedAt: nowIso(s),
        completedAt: null,
        detailsUrl: null,
        externalId: null,
        output: { title: null, summary: null, text: null },
        checkSuiteId: s.state.nextId('checkSuite'),
      };
      apply(s, run, body);
      s.state.checkRuns.set(run.id, run);
      return { status: 201, body: checkRunShape(s.shapes, r, run) };
    },

    'checks/update': (c) => {
      const r = repo(c);
      const run = find(r, c);
      apply(s, run, c.body as CheckRunBody);
      return { status: 200, body: checkRunShape(s.shapes, r, run) };
    },

    'checks/get': (c) => {
      const r = repo(c);
      return { status: 200, body: checkRunShape(s.shapes, r, find(r, c)) };
    },
  };
}
