import { pullStats } from './pull-diff.ts';
import {
  commentShape,
  issueShape,
  nodeId,
  pullShape,
  reviewShape,
  type ShapeContext,
  simplePullShape,
  userShape,
  webhookInstallationShape,
  webhookRepositoryShape,
  workflowRunShape,
  workflowShape,
} from './shapes.ts';
import type {
  CommentRecord,
  InstallationRecord,
  IssueRecord,
  RepoRecord,
  ReviewRecord,
  WorkflowRunRecord,
} from './state.ts';

// Webhook payloads built from the emulator's state, shaped to validate against @octokit/webhooks-schemas
// (whose objects are strict: no field GitHub's payload would not carry).

type Json = Record<string, unknown>;

function organizationShape(ctx: ShapeContext, login: string): Json {
  const user = ctx.state.ensureUser(login, 'Organization');
  const api = `${ctx.apiUrl}/orgs/${login}`;
  return {
    login: user.login,
    id: user.id,
    node_id: nodeId('O', user.id),
    url: api,
    repos_url: `${api}/repos`,
    events_url: `${api}/events`,
    hooks_url: `${api}/hooks`,
    issues_url: `${api}/issues`,
    members_url: `${api}/members{/member}`,
    public_members_url: `${api}/public_members{/member}`,
    avatar_url: `${ctx.webUrl}/avatars/u/${user.id}`,
    description: null,
  };
}

/** repository, installation, organization (for org-owned repos): the envelope every repo event carries. */
function envelope(ctx: ShapeContext, repo: RepoRecord): Json {
  const out: Json = { repository: webhookRepositoryShape(ctx, repo) };
  const inst = ctx.state.installationFor(repo.owner);
  if (inst) out.installation = { id: inst.id, node_id: nodeId('MDIz', inst.id) };
  if (ctx.state.findUser(repo.owner)?.type === 'Organization')
    out.organization = organizationShape(ctx, repo.owner);
  return out;
}

export type WorkflowRunAction = 'requested' | 'in_progress' | 'completed';

export function workflowRunPayload(
  ctx: ShapeContext,
  repo: RepoRecord,
  run: WorkflowRunRecord,
  action: WorkflowRunAction,
  workflowName: string,
): Json {
  const workflow = [...repo.workflows.values()].find((w) => w.id === run.workflowId);
  return {
    action,
    workflow_run: workflowRunShape(ctx, repo, run),
    workflow: workflow
      ? workflowShape(ctx, repo, workflow, workflowName)
      : { id: run.workflowId, name: workflowName, path: run.workflowPath },
    ...envelope(ctx, repo),
    sender: userShape(ctx, run.actor),
  };
}

export function pullRequestReviewPayload(
  ctx: ShapeContext,
  repo: RepoRecord,
  issue: IssueRecord,
  review: ReviewRecord,
): Json {
  return {
    action: 'submitted',
    review: reviewShape(ctx, repo, issue.number, review, 'webhook'),
    pull_request: simplePullShape(ctx, repo, issue),
    ...envelope(ctx, repo),
    sender: userShape(ctx, review.user),
  };
}

export function issueCommentPayload(
  ctx: ShapeContext,
  repo: RepoRecord,
  issue: IssueRecord,
  comment: CommentRecord,
): Json {
  return {
    action: 'created',
    issue: issueShape(ctx, repo, issue),
    comment: commentShape(ctx, repo, comment),
    ...envelope(ctx, repo),
    sender: userShape(ctx, comment.user),
  };
}

export function pullRequestPayload(
  ctx: ShapeContext,
  repo: RepoRecord,
  issue: IssueRecord,
  action: 'opened' | 'closed',
  sender: string,
): Json {
  return {
    action,
    number: issue.number,
    pull_request: pullShape(ctx, repo, issue, pullStats(repo, issue), 'webhook'),
    ...envelope(ctx, repo),
    sender: userShape(ctx, sender),
  };
}

export function installationPayload(ctx: ShapeContext, inst: InstallationRecord, sender: string): Json {
  const repos = [...ctx.state.repos.values()].filter(
    (r) => r.owner.toLowerCase() === inst.account.toLowerCase(),
  );
  return {
    action: 'created',
    installation: webhookInstallationShape(ctx, inst),
    repositories: repos.map((r) => ({
      id: r.id,
      node_id: nodeId('R', r.id),
      name: r.name,
      full_name: `${r.owner}/${r.name}`,
      private: true,
    })),
    sender: userShape(ctx, sender),
  };
}
