import {
  type EmulatorServices,
  HttpError,
  intParam,
  notFound,
  nowIso,
  paginate,
  type RouteContext,
  type Routes,
  repoFor,
} from './core.ts';
import { pullFiles, pullStats } from './pull-diff.ts';
import { actingUser, createIssue } from './routes-issues.ts';
import { pullShape, repoApiUrl, repoWebUrl, reviewShape } from './shapes.ts';
import type { IssueRecord, RepoRecord, ReviewRecord } from './state.ts';

// Pull requests (plan PRs, promotion PRs) and their reviews (how a person approves a plan on GitHub).

type ReviewState = ReviewRecord['state'];

export function pullFor(repo: RepoRecord, c: RouteContext): IssueRecord {
  const issue = repo.issues.get(intParam(c, 'pull_number'));
  if (!issue?.pull) throw notFound();
  return issue;
}

function customError(message: string): HttpError {
  return new HttpError(422, 'Validation Failed', {
    errors: [{ resource: 'PullRequest', code: 'custom', message }],
  });
}

function branchOf(head: string): string {
  // `owner:branch` names a branch of a fork; the emulator has no forks, so only the branch part counts.
  const i = head.indexOf(':');
  return i >= 0 ? head.slice(i + 1) : head;
}

export function addReview(
  s: EmulatorServices,
  repo: RepoRecord,
  issue: IssueRecord,
  user: string,
  state: ReviewState,
  body: string,
  commitId?: string,
): ReviewRecord {
  s.state.ensureUser(user, user.endsWith('[bot]') ? 'Bot' : 'User');
  const review: ReviewRecord = {
    id: s.state.nextId('review'),
    user,
    body,
    state,
    commitId: commitId ?? repo.git.resolve(`heads/${issue.pull!.head}`) ?? '',
    submittedAt: state === 'PENDING' ? null : nowIso(s),
  };
  issue.pull!.reviews.push(review);
  return review;
}

const EVENT_STATES: Record<string, ReviewState> = {
  APPROVE: 'APPROVED',
  REQUEST_CHANGES: 'CHANGES_REQUESTED',
  COMMENT: 'COMMENTED',
};

export function pullRoutes(s: EmulatorServices): Routes {
  const repo = (c: RouteContext) => repoFor(s, c);
  const shape = (r: RepoRecord, issue: IssueRecord) => pullShape(s.shapes, r, issue, pullStats(r, issue));

  return {
    'pulls/create': (c) => {
      const r = repo(c);
      const body = c.body as { title?: string; head: string; base: string; body?: string; draft?: boolean };
      const head = branchOf(body.head);
      const headSha = r.git.refs.get(`heads/${head}`);
      if (!headSha) {
        throw new HttpError(422, 'Validation Failed', {
          errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
        });
      }
      const baseSha = r.git.refs.get(`heads/${body.base}`);
      if (!baseSha) {
        throw new HttpError(422, 'Validation Failed', {
          errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }],
        });
      }
      if (headSha === baseSha || r.git.isAncestor(headSha, baseSha)) {
        throw customError(`No commits between ${body.base} and ${head}`);
      }
      for (const other of r.issues.values()) {
        if (
          other.pull &&
          other.state === 'open' &&
          other.pull.head === head &&
          other.pull.base === body.base
        ) {
          throw customError(`A pull request already exists for ${r.owner}:${head}.`);
        }
      }
      if (!body.title) {
        throw new HttpError(422, 'Validation Failed', {
          errors: [{ resource: 'PullRequest', field: 'title', code: 'missing_field' }],
        });
      }
      const issue = createIssue(s, r, { title: body.title, body: body.body ?? null, user: actingUser(s) });
      issue.pull = {
        id: s.state.nextId('pull'),
        head,
        base: body.base,
        draft: body.draft ?? false,
        mergedAt: null,
        mergeCommitSha: null,
        reviews: [],
      };
      const out = shape(r, issue);
      return { status: 201, body: out, headers: { location: String(out.url) } };
    },

    'pulls/get': (c) => {
      const r = repo(c);
      return { status: 200, body: shape(r, pullFor(r, c)) };
    },

    'pulls/update': (c) => {
      const r = repo(c);
      const issue = pullFor(r, c);
      const body = (c.body ?? {}) as {
        title?: string;
        body?: string;
        state?: 'open' | 'closed';
        base?: string;
      };
      if (body.title !== undefined) issue.title = body.title;
      if (body.body !== undefined) issue.body = body.body;
      if (body.base !== undefined) {
        if (!r.git.refs.has(`heads/${body.base}`)) {
          throw new HttpError(422, 'Validation Failed', {
            errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }],
          });
        }
        issue.pull!.base = body.base;
      }
      if (body.state && body.state !== issue.state) {
        issue.state = body.state;
        issue.closedAt = body.state === 'closed' ? nowIso(s) : null;
      }
      issue.updatedAt = nowIso(s);
      return { status: 200, body: shape(r, issue) };
    },

    'pulls/list': (c) => {
      const r = repo(c);
      const state = c.query.get('state') ?? 'open';
      const head = c.query.get('head');
      const base = c.query.get('base');
      const direction = c.query.get('direction') ?? 'desc';
      const pulls = [...r.issues.values()]
        .filter((i) => i.pull)
        .filter((i) => state === 'all' || i.state === state)
        .filter((i) => !head || `${r.owner}:${i.pull!.head}`.toLowerCase() === head.toLowerCase())
        .filter((i) => !base || i.pull!.base === base)
        .sort((a, b) => (direction === 'asc' ? a.number - b.number : b.number - a.number));
      const page = paginate(pulls, c);
      // Lists carry "simple" pull requests, whose labels' description the description types as a
      // non-null string (unlike a single pull request's); a label made by adding it has none, so ''.
      const simple = (i: IssueRecord) => {
        const full = shape(r, i) as { labels: Array<{ description: string | null }> };
        return { ...full, labels: full.labels.map((l) => ({ ...l, description: l.description ?? '' })) };
      };
      return { status: 200, body: page.items.map(simple), headers: page.headers };
    },

    'pulls/list-files': (c) => {
      const r = repo(c);
      const issue = pullFor(r, c);
      const headRef = issue.pull!.head;
      const files = pullFiles(r, issue).map((f) => ({
        sha: f.sha,
        filename: f.filename,
        status: f.status,
        additions: f.additions,
        deletions: f.deletions,
        changes: f.additions + f.deletions,
        blob_url: `${repoWebUrl(s.shapes, r)}/blob/${headRef}/${f.filename}`,
        raw_url: `${repoWebUrl(s.shapes, r)}/raw/${headRef}/${f.filename}`,
        contents_url: `${repoApiUrl(s.shapes, r)}/contents/${f.filename}?ref=${encodeURIComponent(headRef)}`,
      }));
      const page = paginate(files, c);
      return { status: 200, body: page.items, headers: page.headers };
    },

    'pulls/list-reviews': (c) => {
      const r = repo(c);
      const issue = pullFor(r, c);
      const page = paginate(issue.pull!.reviews, c);
      return {
        status: 200,
        body: page.items.map((rv) => reviewShape(s.shapes, r, issue.number, rv)),
        headers: page.headers,
      };
    },

    'pulls/get-review': (c) => {
      const r = repo(c);
      const issue = pullFor(r, c);
      const review = issue.pull!.reviews.find((rv) => rv.id === intParam(c, 'review_id'));
      if (!review) throw notFound();
      return { status: 200, body: reviewShape(s.shapes, r, issue.number, review) };
    },

    'pulls/create-review': (c) => {
      const r = repo(c);
      const issue = pullFor(r, c);
      const body = (c.body ?? {}) as { body?: string; event?: string; commit_id?: string };
      const state = body.event ? EVENT_STATES[body.event]! : 'PENDING';
      const user = actingUser(s);
      if (issue.user === user && state === 'APPROVED') {
        throw new HttpError(422, 'Unprocessable Entity', {
          errors: ['Can not approve your own pull request'],
        });
      }
      if (issue.user === user && state === 'CHANGES_REQUESTED') {
        throw new HttpError(422, 'Unprocessable Entity', {
          errors: ['Can not request changes on your own pull request'],
        });
      }
      if ((state === 'CHANGES_REQUESTED' || state === 'COMMENTED') && !body.body) {
        throw new HttpError(422, 'Unprocessable Entity', {
          errors: [`Body is required when using ${body.event} event`],
        });
      }
      const review = addReview(s, r, issue, user, state, body.body ?? '', body.commit_id);
      return { status: 200, body: reviewShape(s.shapes, r, issue.number, review) };
    },
  };
}
