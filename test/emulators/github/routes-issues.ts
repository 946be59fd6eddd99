import {
  type EmulatorServices,
  intParam,
  notFound,
  nowIso,
  paginate,
  type RouteContext,
  type Routes,
  repoFor,
} from './core.ts';
import { botLogin, commentShape, issueShape, labelShape } from './shapes.ts';
import type { CommentRecord, IssueRecord, RepoRecord } from './state.ts';

// Issues and their comments and labels. Pull requests are issues too (they share the numbering and the
// comments API), which is where rea's sticky progress comment lives.

export function actingUser(s: EmulatorServices): string {
  return botLogin(s.shapes.app);
}

export function issueFor(repo: RepoRecord, c: RouteContext): IssueRecord {
  const issue = repo.issues.get(intParam(c, 'issue_number'));
  if (!issue) throw notFound();
  return issue;
}

export function createIssue(
  s: EmulatorServices,
  repo: RepoRecord,
  fields: { title: string; body: string | null; user: string; labels?: string[] },
): IssueRecord {
  const now = nowIso(s);
  const issue: IssueRecord = {
    id: s.state.nextId('issue'),
    number: repo.nextIssueNumber++,
    title: fields.title,
    body: fields.body,
    user: fields.user,
    state: 'open',
    createdAt: now,
    updatedAt: now,
    closedAt: null,
    labels: [],
    commentCount: 0,
  };
  repo.issues.set(issue.number, issue);
  if (fields.labels) addLabels(s, repo, issue, fields.labels);
  return issue;
}

export function addLabels(s: EmulatorServices, repo: RepoRecord, issue: IssueRecord, names: string[]): void {
  for (const name of names) {
    const key = name.toLowerCase();
    if (!repo.labels.has(key)) {
      repo.labels.set(key, { id: s.state.nextId('label'), name, color: 'ededed', description: null });
    }
    if (!issue.labels.some((l) => l.toLowerCase() === key)) issue.labels.push(repo.labels.get(key)!.name);
  }
  issue.updatedAt = nowIso(s);
}

export function createComment(
  s: EmulatorServices,
  repo: RepoRecord,
  issue: IssueRecord,
  user: string,
  body: string,
): CommentRecord {
  s.state.ensureUser(user, user.endsWith('[bot]') ? 'Bot' : 'User');
  const now = nowIso(s);
  const comment: CommentRecord = {
    id: s.state.nextId('comment'),
    repoId: repo.id,
    issueNumber: issue.number,
    user,
    body,
    createdAt: now,
    updatedAt: now,
  };
  s.state.comments.set(comment.id, comment);
  issue.commentCount++;
  issue.updatedAt = now;
  return comment;
}

function setState(s: EmulatorServices, issue: IssueRecord, state: 'open' | 'closed'): void {
  if (issue.state === state) return;
  issue.state = state;
  issue.closedAt = state === 'closed' ? nowIso(s) : null;
}

function labelNames(body: unknown): string[] {
  const list = Array.isArray(body) ? body : ((body as { labels?: unknown[] } | undefined)?.labels ?? []);
  return list.map((l) => (typeof l === 'string' ? l : String((l as { name?: string }).name ?? '')));
}

export function issueRoutes(s: EmulatorServices): Routes {
  const repo = (c: RouteContext) => repoFor(s, c);
  const commentFor = (r: RepoRecord, c: RouteContext): CommentRecord => {
    const comment = s.state.comments.get(intParam(c, 'comment_id'));
    if (!comment || comment.repoId !== r.id) throw notFound();
    return comment;
  };

  return {
    'issues/get': (c) => {
      const r = repo(c);
      return { status: 200, body: issueShape(s.shapes, r, issueFor(r, c)) };
    },

    'issues/create': (c) => {
      const r = repo(c);
      const body = c.body as { title: string | number; body?: string | null; labels?: unknown[] };
      const issue = createIssue(s, r, {
        title: String(body.title),
        body: body.body ?? null,
        user: actingUser(s),
        labels: body.labels ? labelNames(body.labels) : undefined,
      });
      return { status: 201, body: issueShape(s.shapes, r, issue) };
    },

    'issues/update': (c) => {
      const r = repo(c);
      const issue = issueFor(r, c);
      const body = (c.body ?? {}) as {
        title?: string | number | null;
        body?: string | null;
        state?: 'open' | 'closed';
      };
      if (body.title !== undefined && body.title !== null) issue.title = String(body.title);
      if (body.body !== undefined) issue.body = body.body;
      if (body.state) setState(s, issue, body.state);
      issue.updatedAt = nowIso(s);
      return { status: 200, body: issueShape(s.shapes, r, issue) };
    },

    'issues/list-comments': (c) => {
      const r = repo(c);
      const issue = issueFor(r, c);
      const since = c.query.get('since');
      const comments = [...s.state.comments.values()]
        .filter((x) => x.repoId === r.id && x.issueNumber === issue.number)
        .filter((x) => !since || x.updatedAt >= since)
        .sort((a, b) => a.id - b.id);
      const page = paginate(comments, c);
      return {
        status: 200,
        body: page.items.map((x) => commentShape(s.shapes, r, x)),
        headers: page.headers,
      };
    },

    'issues/create-comment': (c) => {
      const r = repo(c);
      const issue = issueFor(r, c);
      const comment = createComment(s, r, issue, actingUser(s), (c.body as { body: string }).body);
      const shape = commentShape(s.shapes, r, comment);
      return { status: 201, body: shape, headers: { location: String(shape.url) } };
    },

    'issues/get-comment': (c) => {
      const r = repo(c);
      return { status: 200, body: commentShape(s.shapes, r, commentFor(r, c)) };
    },

    'issues/update-comment': (c) => {
      const r = repo(c);
      const comment = commentFor(r, c);
      comment.body = (c.body as { body: string }).body;
      comment.updatedAt = nowIso(s);
      return { status: 200, body: commentShape(s.shapes, r, comment) };
    },

    'issues/delete-comment': (c) => {
      const r = repo(c);
      const comment = commentFor(r, c);
      s.state.comments.delete(comment.id);
      const issue = r.issues.get(comment.issueNumber);
      if (issue) issue.commentCount--;
      return { status: 204 };
    },

    'issues/add-labels': (c) => {
      const r = repo(c);
      const issue = issueFor(r, c);
      addLabels(s, r, issue, labelNames(c.body));
      return {
        status: 200,
        body: issue.labels.map((name) => labelShape(s.shapes, r, r.labels.get(name.toLowerCase())!)),
      };
    },

    'issues/list-labels-on-issue': (c) => {
      const r = repo(c);
      const issue = issueFor(r, c);
      const labels = issue.labels.map((name) => labelShape(s.shapes, r, r.labels.get(name.toLowerCase())!));
      const page = paginate(labels, c);
      return { status: 200, body: page.items, headers: page.headers };
    },
  };
}
