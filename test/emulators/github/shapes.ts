import type {
  ArtifactRecord,
  AttemptRecord,
  CheckRunRecord,
  CommentRecord,
  EmulatorState,
  InstallationRecord,
  IssueRecord,
  JobRecord,
  LabelRecord,
  RepoRecord,
  ReviewRecord,
  WorkflowRecord,
  WorkflowRunRecord,
} from './state.ts';

// JSON as GitHub sends it, built from the emulator's records. Where a webhook schema is strict
// (additionalProperties: false) the shared shapes carry exactly its fields; REST responses, whose schemas
// allow more, add the REST-only fields on top.

export interface AppInfo {
  id: number;
  slug: string;
  name: string;
  /** Login of the organization that owns the app. */
  owner: string;
  createdAt: string;
}

export interface ShapeContext {
  state: EmulatorState;
  /** `http://127.0.0.1:PORT/api/v3` */
  apiUrl: string;
  /** `http://127.0.0.1:PORT` (GHES serves the web UI and the API on one host). */
  webUrl: string;
  app: AppInfo;
}

type Json = Record<string, unknown>;

export const APP_PERMISSIONS = {
  actions: 'write',
  checks: 'write',
  contents: 'write',
  issues: 'write',
  members: 'read',
  metadata: 'read',
  pull_requests: 'write',
} as const;

export const APP_EVENTS = [
  'check_run',
  'issue_comment',
  'pull_request',
  'pull_request_review',
  'workflow_run',
];

/** GitHub timestamps: ISO 8601 in UTC, seconds precision. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function nodeId(kind: string, id: number): string {
  return `${kind}_${Buffer.from(`${kind}:${id}`).toString('base64url')}`;
}

export function botLogin(app: AppInfo): string {
  return `${app.slug}[bot]`;
}

export function repoApiUrl(ctx: ShapeContext, repo: RepoRecord): string {
  return `${ctx.apiUrl}/repos/${repo.owner}/${repo.name}`;
}

export function repoWebUrl(ctx: ShapeContext, repo: RepoRecord): string {
  return `${ctx.webUrl}/${repo.owner}/${repo.name}`;
}

export function errorBody(message: string, status: number, extra: Json = {}): Json {
  return {
    message,
    documentation_url: 'https://docs.github.com/enterprise-server@3.21/rest',
    status: String(status),
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Users, apps, installations

export function userShape(ctx: ShapeContext, login: string): Json {
  const user = ctx.state.ensureUser(login);
  const api = `${ctx.apiUrl}/users/${encodeURIComponent(user.login)}`;
  return {
    login: user.login,
    id: user.id,
    node_id: nodeId(user.type === 'Organization' ? 'O' : user.type === 'Bot' ? 'BOT' : 'U', user.id),
    avatar_url: `${ctx.webUrl}/avatars/u/${user.id}`,
    gravatar_id: '',
    url: api,
    html_url: user.type === 'Bot' ? `${ctx.webUrl}/apps/${ctx.app.slug}` : `${ctx.webUrl}/${user.login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: user.type,
    site_admin: false,
  };
}

export function appShape(ctx: ShapeContext): Json {
  const { app } = ctx;
  return {
    id: app.id,
    slug: app.slug,
    node_id: nodeId('A', app.id),
    client_id: `Iv1.${app.id.toString(16).padStart(16, '0')}`,
    owner: userShape(ctx, app.owner),
    name: app.name,
    description: 'rea: autonomous ML experimentation agent',
    external_url: ctx.webUrl,
    html_url: `${ctx.webUrl}/apps/${app.slug}`,
    created_at: app.createdAt,
    updated_at: app.createdAt,
    permissions: { ...APP_PERMISSIONS },
    events: [...APP_EVENTS],
    installations_count: ctx.state.installations.size,
  };
}

function installationCommon(ctx: ShapeContext, inst: InstallationRecord): Json {
  const account = ctx.state.ensureUser(inst.account);
  return {
    id: inst.id,
    repository_selection: 'all',
    access_tokens_url: `${ctx.apiUrl}/app/installations/${inst.id}/access_tokens`,
    repositories_url: `${ctx.apiUrl}/installation/repositories`,
    html_url: `${ctx.webUrl}/organizations/${account.login}/settings/installations/${inst.id}`,
    app_id: ctx.app.id,
    app_slug: ctx.app.slug,
    target_id: account.id,
    target_type: account.type === 'Organization' ? 'Organization' : 'User',
    permissions: { ...APP_PERMISSIONS },
    events: [...APP_EVENTS],
    created_at: inst.createdAt,
    updated_at: inst.createdAt,
    single_file_name: null,
    has_multiple_single_files: false,
    single_file_paths: [],
    suspended_by: null,
    suspended_at: null,
  };
}

/**
 * REST installation. The description types `account` of GET /app/installations as allOf(simple user,
 * enterprise), so the account also carries the enterprise fields (name, slug, timestamps).
 */
export function installationShape(ctx: ShapeContext, inst: InstallationRecord): Json {
  return {
    ...installationCommon(ctx, inst),
    account: {
      ...userShape(ctx, inst.account),
      name: inst.account,
      slug: inst.account.toLowerCase(),
      created_at: inst.createdAt,
      updated_at: inst.createdAt,
    },
  };
}

export function webhookInstallationShape(ctx: ShapeContext, inst: InstallationRecord): Json {
  return { ...installationCommon(ctx, inst), account: userShape(ctx, inst.account) };
}

// ---------------------------------------------------------------------------------------------------------
// Repositories

function repoUrls(ctx: ShapeContext, repo: RepoRecord): Json {
  const api = repoApiUrl(ctx, repo);
  return {
    forks_url: `${api}/forks`,
    keys_url: `${api}/keys{/key_id}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    teams_url: `${api}/teams`,
    hooks_url: `${api}/hooks`,
    issue_events_url: `${api}/issues/events{/number}`,
    events_url: `${api}/events`,
    assignees_url: `${api}/assignees{/user}`,
    branches_url: `${api}/branches{/branch}`,
    tags_url: `${api}/tags`,
    blobs_url: `${api}/git/blobs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    trees_url: `${api}/git/trees{/sha}`,
    statuses_url: `${api}/statuses/{sha}`,
    languages_url: `${api}/languages`,
    stargazers_url: `${api}/stargazers`,
    contributors_url: `${api}/contributors`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    commits_url: `${api}/commits{/sha}`,
    git_commits_url: `${api}/git/commits{/sha}`,
    comments_url: `${api}/comments{/number}`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    contents_url: `${api}/contents/{+path}`,
    compare_url: `${api}/compare/{base}...{head}`,
    merges_url: `${api}/merges`,
    archive_url: `${api}/{archive_format}{/ref}`,
    downloads_url: `${api}/downloads`,
    issues_url: `${api}/issues{/number}`,
    pulls_url: `${api}/pulls{/number}`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    labels_url: `${api}/labels{/name}`,
    releases_url: `${api}/releases{/id}`,
    deployments_url: `${api}/deployments`,
  };
}

/** The minimal repository of workflow runs (REST "Minimal Repository", webhook "repository-lite"). */
export function repositoryLiteShape(ctx: ShapeContext, repo: RepoRecord): Json {
  return {
    id: repo.id,
    node_id: nodeId('R', repo.id),
    name: repo.name,
    full_name: `${repo.owner}/${repo.name}`,
    private: true,
    owner: userShape(ctx, repo.owner),
    html_url: repoWebUrl(ctx, repo),
    description: null,
    fork: false,
    url: repoApiUrl(ctx, repo),
    ...repoUrls(ctx, repo),
  };
}

function openIssueCount(repo: RepoRecord): number {
  return [...repo.issues.values()].filter((i) => i.state === 'open').length;
}

/** The repository of webhook payloads (strict) and the base of REST repositories. */
export function webhookRepositoryShape(ctx: ShapeContext, repo: RepoRecord): Json {
  const host = new URL(ctx.webUrl).host;
  const open = openIssueCount(repo);
  return {
    ...repositoryLiteShape(ctx, repo),
    created_at: repo.createdAt,
    updated_at: repo.pushedAt,
    pushed_at: repo.pushedAt,
    git_url: `git://${host}/${repo.owner}/${repo.name}.git`,
    ssh_url: `git@${host}:${repo.owner}/${repo.name}.git`,
    clone_url: `${repoWebUrl(ctx, repo)}.git`,
    svn_url: repoWebUrl(ctx, repo),
    homepage: null,
    size: 0,
    stargazers_count: 0,
    watchers_count: 0,
    language: null,
    has_issues: true,
    has_projects: true,
    has_downloads: true,
    has_wiki: true,
    has_pages: false,
    has_discussions: false,
    forks_count: 0,
    mirror_url: null,
    archived: false,
    disabled: false,
    open_issues_count: open,
    license: null,
    allow_forking: true,
    is_template: false,
    web_commit_signoff_required: false,
    topics: [],
    visibility: 'private',
    forks: 0,
    open_issues: open,
    watchers: 0,
    default_branch: repo.defaultBranch,
    custom_properties: {},
  };
}

export function fullRepositoryShape(ctx: ShapeContext, repo: RepoRecord): Json {
  return {
    ...webhookRepositoryShape(ctx, repo),
    permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
    allow_squash_merge: true,
    allow_merge_commit: true,
    allow_rebase_merge: true,
    allow_auto_merge: false,
    delete_branch_on_merge: false,
    subscribers_count: 0,
    network_count: 0,
  };
}

export function authorAssociation(ctx: ShapeContext, repo: RepoRecord, login: string): string {
  if (login.toLowerCase() === repo.owner.toLowerCase()) return 'OWNER';
  if (repo.collaborators.has(login.toLowerCase())) return 'COLLABORATOR';
  for (const [team, members] of ctx.state.teams) {
    if (team.startsWith(`${repo.owner.toLowerCase()}/`) && members.has(login.toLowerCase())) return 'MEMBER';
  }
  return 'NONE';
}

function reactionsShape(url: string): Json {
  return {
    url: `${url}/reactions`,
    total_count: 0,
    '+1': 0,
    '-1': 0,
    laugh: 0,
    hooray: 0,
    confused: 0,
    heart: 0,
    rocket: 0,
    eyes: 0,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Issues, pull requests, comments, reviews, labels

export function labelShape(ctx: ShapeContext, repo: RepoRecord, label: LabelRecord): Json {
  return {
    id: label.id,
    node_id: nodeId('LA', label.id),
    url: `${repoApiUrl(ctx, repo)}/labels/${encodeURIComponent(label.name)}`,
    name: label.name,
    color: label.color,
    default: false,
    description: label.description,
  };
}

function issueLabels(ctx: ShapeContext, repo: RepoRecord, issue: IssueRecord): Json[] {
  return issue.labels.flatMap((name) => {
    const label = repo.labels.get(name.toLowerCase());
    return label ? [labelShape(ctx, repo, label)] : [];
  });
}

/** Issue as REST and webhooks send it (pull requests are issues too, with a `pull_request` key). */
export function issueShape(ctx: ShapeContext, repo: RepoRecord, issue: IssueRecord): Json {
  const api = `${repoApiUrl(ctx, repo)}/issues/${issue.number}`;
  const web = `${repoWebUrl(ctx, repo)}/${issue.pull ? 'pull' : 'issues'}/${issue.number}`;
  const out: Json = {
    url: api,
    repository_url: repoApiUrl(ctx, repo),
    labels_url: `${api}/labels{/name}`,
    comments_url: `${api}/comments`,
    events_url: `${api}/events`,
    html_url: web,
    id: issue.id,
    node_id: nodeId('I', issue.id),
    number: issue.number,
    title: issue.title,
    user: userShape(ctx, issue.user),
    labels: issueLabels(ctx, repo, issue),
    state: issue.state,
    locked: false,
    assignee: null,
    assignees: [],
    milestone: null,
    comments: issue.commentCount,
    created_at: issue.createdAt,
    updated_at: issue.updatedAt,
    closed_at: issue.closedAt,
    author_association: authorAssociation(ctx, repo, issue.user),
    active_lock_reason: null,
    body: issue.body,
    reactions: reactionsShape(api),
    timeline_url: `${api}/timeline`,
    performed_via_github_app: null,
    state_reason: issue.state === 'closed' ? 'completed' : null,
  };
  if (issue.pull) {
    const pullWeb = `${repoWebUrl(ctx, repo)}/pull/${issue.number}`;
    out.draft = issue.pull.draft;
    out.pull_request = {
      url: `${repoApiUrl(ctx, repo)}/pulls/${issue.number}`,
      html_url: pullWeb,
      diff_url: `${pullWeb}.diff`,
      patch_url: `${pullWeb}.patch`,
      merged_at: issue.pull.mergedAt,
    };
  }
  return out;
}

export function commentShape(ctx: ShapeContext, repo: RepoRecord, comment: CommentRecord): Json {
  const url = `${repoApiUrl(ctx, repo)}/issues/comments/${comment.id}`;
  const issue = repo.issues.get(comment.issueNumber);
  const kind = issue?.pull ? 'pull' : 'issues';
  return {
    url,
    html_url: `${repoWebUrl(ctx, repo)}/${kind}/${comment.issueNumber}#issuecomment-${comment.id}`,
    issue_url: `${repoApiUrl(ctx, repo)}/issues/${comment.issueNumber}`,
    id: comment.id,
    node_id: nodeId('IC', comment.id),
    user: userShape(ctx, comment.user),
    created_at: comment.createdAt,
    updated_at: comment.updatedAt,
    author_association: authorAssociation(ctx, repo, comment.user),
    body: comment.body,
    reactions: reactionsShape(url),
    performed_via_github_app: null,
  };
}

export interface PullDiffStats {
  commits: number;
  additions: number;
  deletions: number;
  changedFiles: number;
}

function pullCommon(
  ctx: ShapeContext,
  repo: RepoRecord,
  issue: IssueRecord,
  flavor: 'rest' | 'webhook',
): Json {
  const pull = issue.pull!;
  const api = `${repoApiUrl(ctx, repo)}/pulls/${issue.number}`;
  const issueApi = `${repoApiUrl(ctx, repo)}/issues/${issue.number}`;
  const web = `${repoWebUrl(ctx, repo)}/pull/${issue.number}`;
  const headSha = repo.git.resolve(`heads/${pull.head}`) ?? pull.mergeCommitSha ?? '';
  const baseSha = repo.git.resolve(`heads/${pull.base}`) ?? '';
  const repoJson = flavor === 'rest' ? fullRepositoryShape(ctx, repo) : webhookRepositoryShape(ctx, repo);
  const side = (ref: string, sha: string) => ({
    label: `${repo.owner}:${ref}`,
    ref,
    sha,
    user: userShape(ctx, repo.owner),
    repo: repoJson,
  });
  return {
    url: api,
    id: pull.id,
    node_id: nodeId('PR', pull.id),
    html_url: web,
    diff_url: `${web}.diff`,
    patch_url: `${web}.patch`,
    issue_url: issueApi,
    commits_url: `${api}/commits`,
    review_comments_url: `${api}/comments`,
    review_comment_url: `${repoApiUrl(ctx, repo)}/pulls/comments{/number}`,
    comments_url: `${issueApi}/comments`,
    statuses_url: `${repoApiUrl(ctx, repo)}/statuses/${headSha}`,
    number: issue.number,
    state: issue.state,
    locked: false,
    title: issue.title,
    user: userShape(ctx, issue.user),
    body: issue.body,
    created_at: issue.createdAt,
    updated_at: issue.updatedAt,
    closed_at: issue.closedAt,
    merged_at: pull.mergedAt,
    merge_commit_sha: pull.mergeCommitSha,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    labels: issueLabels(ctx, repo, issue),
    milestone: null,
    draft: pull.draft,
    head: side(pull.head, headSha),
    base: side(pull.base, baseSha),
    _links: {
      self: { href: api },
      html: { href: web },
      issue: { href: issueApi },
      comments: { href: `${issueApi}/comments` },
      review_comments: { href: `${api}/comments` },
      review_comment: { href: `${repoApiUrl(ctx, repo)}/pulls/comments{/number}` },
      commits: { href: `${api}/commits` },
      statuses: { href: `${repoApiUrl(ctx, repo)}/statuses/${headSha}` },
    },
    author_association: authorAssociation(ctx, repo, issue.user),
    auto_merge: null,
    active_lock_reason: null,
  };
}

/** Full pull request (REST, and the webhook `pull_request` object). */
export function pullShape(
  ctx: ShapeContext,
  repo: RepoRecord,
  issue: IssueRecord,
  stats: PullDiffStats,
  flavor: 'rest' | 'webhook' = 'rest',
): Json {
  return {
    ...pullCommon(ctx, repo, issue, flavor),
    merged: issue.pull!.mergedAt !== null,
    mergeable: issue.state === 'open' ? true : null,
    rebaseable: issue.state === 'open' ? true : null,
    mergeable_state: issue.state === 'open' ? 'clean' : 'unknown',
    merged_by: null,
    comments: issue.commentCount,
    review_comments: 0,
    maintainer_can_modify: false,
    commits: stats.commits,
    additions: stats.additions,
    deletions: stats.deletions,
    changed_files: stats.changedFiles,
  };
}

/** The pull request of pull_request_review webhooks ("simple pull request": no merge or diff fields). */
export function simplePullShape(ctx: ShapeContext, repo: RepoRecord, issue: IssueRecord): Json {
  return pullCommon(ctx, repo, issue, 'webhook');
}

export function reviewShape(
  ctx: ShapeContext,
  repo: RepoRecord,
  pullNumber: number,
  review: ReviewRecord,
  flavor: 'rest' | 'webhook' = 'rest',
): Json {
  const web = `${repoWebUrl(ctx, repo)}/pull/${pullNumber}`;
  const api = `${repoApiUrl(ctx, repo)}/pulls/${pullNumber}`;
  const out: Json = {
    id: review.id,
    node_id: nodeId('PRR', review.id),
    user: userShape(ctx, review.user),
    body: review.body,
    state: flavor === 'rest' ? review.state : review.state.toLowerCase(),
    html_url: `${web}#pullrequestreview-${review.id}`,
    pull_request_url: api,
    author_association: authorAssociation(ctx, repo, review.user),
    _links: { html: { href: `${web}#pullrequestreview-${review.id}` }, pull_request: { href: api } },
    submitted_at: review.submittedAt,
    commit_id: review.commitId,
  };
  if (flavor === 'rest' && review.submittedAt === null) delete out.submitted_at;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Checks

function minimalPulls(ctx: ShapeContext, repo: RepoRecord, headSha: string): Json[] {
  const lite = { id: repo.id, url: repoApiUrl(ctx, repo), name: repo.name };
  return [...repo.issues.values()]
    .filter((i) => i.pull && i.state === 'open' && repo.git.resolve(`heads/${i.pull.head}`) === headSha)
    .map((i) => ({
      id: i.pull!.id,
      number: i.number,
      url: `${repoApiUrl(ctx, repo)}/pulls/${i.number}`,
      head: { ref: i.pull!.head, sha: headSha, repo: lite },
      base: { ref: i.pull!.base, sha: repo.git.resolve(`heads/${i.pull!.base}`) ?? '', repo: lite },
    }));
}

export function checkRunShape(ctx: ShapeContext, repo: RepoRecord, run: CheckRunRecord): Json {
  const url = `${repoApiUrl(ctx, repo)}/check-runs/${run.id}`;
  return {
    id: run.id,
    head_sha: run.headSha,
    node_id: nodeId('CR', run.id),
    external_id: run.externalId,
    url,
    html_url: `${repoWebUrl(ctx, repo)}/runs/${run.id}`,
    details_url: run.detailsUrl,
    status: run.status,
    conclusion: run.conclusion,
    started_at: run.startedAt,
    completed_at: run.completedAt,
    output: { ...run.output, annotations_count: 0, annotations_url: `${url}/annotations` },
    name: run.name,
    check_suite: { id: run.checkSuiteId },
    app: appShape(ctx),
    pull_requests: minimalPulls(ctx, repo, run.headSha),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Actions

export function workflowShape(ctx: ShapeContext, repo: RepoRecord, wf: WorkflowRecord, name: string): Json {
  return {
    id: wf.id,
    node_id: nodeId('W', wf.id),
    name,
    path: wf.path,
    state: 'active',
    created_at: wf.createdAt,
    updated_at: wf.createdAt,
    url: `${repoApiUrl(ctx, repo)}/actions/workflows/${wf.id}`,
    html_url: `${repoWebUrl(ctx, repo)}/blob/${repo.defaultBranch}/${wf.path}`,
    badge_url: `${repoWebUrl(ctx, repo)}/workflows/${encodeURIComponent(name)}/badge.svg`,
  };
}

export function currentAttempt(run: WorkflowRunRecord): AttemptRecord {
  return run.attempts[run.attempts.length - 1]!;
}

/** A workflow run (REST and webhook share the shape), as of `attemptNumber` (default: the latest). */
export function workflowRunShape(
  ctx: ShapeContext,
  repo: RepoRecord,
  run: WorkflowRunRecord,
  attemptNumber?: number,
): Json {
  const attempt = attemptNumber ? run.attempts[attemptNumber - 1]! : currentAttempt(run);
  const api = `${repoApiUrl(ctx, repo)}/actions/runs/${run.id}`;
  const commit = repo.git.commits.get(run.headSha);
  const actor = userShape(ctx, run.actor);
  return {
    id: run.id,
    name: run.workflowName,
    node_id: nodeId('WFR', run.id),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: run.workflowPath,
    display_title: run.displayTitle,
    run_number: run.runNumber,
    event: run.event,
    status: attempt.status,
    conclusion: attempt.conclusion,
    workflow_id: run.workflowId,
    check_suite_id: attempt.checkSuiteId,
    check_suite_node_id: nodeId('CS', attempt.checkSuiteId),
    url: api,
    html_url: `${repoWebUrl(ctx, repo)}/actions/runs/${run.id}`,
    pull_requests: [],
    created_at: run.createdAt,
    updated_at: attempt.updatedAt,
    actor,
    triggering_actor: actor,
    run_attempt: attempt.number,
    referenced_workflows: [],
    run_started_at: attempt.startedAt,
    jobs_url: `${api}/jobs`,
    logs_url: `${api}/logs`,
    check_suite_url: `${repoApiUrl(ctx, repo)}/check-suites/${attempt.checkSuiteId}`,
    artifacts_url: `${api}/artifacts`,
    cancel_url: `${api}/cancel`,
    rerun_url: `${api}/rerun`,
    previous_attempt_url: attempt.number > 1 ? `${api}/attempts/${attempt.number - 1}` : null,
    workflow_url: `${repoApiUrl(ctx, repo)}/actions/workflows/${run.workflowId}`,
    head_commit: commit
      ? {
          id: commit.sha,
          tree_id: commit.tree,
          message: commit.message,
          timestamp: commit.committer.date,
          author: { name: commit.author.name, email: commit.author.email },
          committer: { name: commit.committer.name, email: commit.committer.email },
        }
      : null,
    repository: repositoryLiteShape(ctx, repo),
    head_repository: repositoryLiteShape(ctx, repo),
  };
}

export function jobShape(ctx: ShapeContext, repo: RepoRecord, run: WorkflowRunRecord, job: JobRecord): Json {
  const api = `${repoApiUrl(ctx, repo)}/actions/jobs/${job.id}`;
  return {
    id: job.id,
    run_id: job.runId,
    run_url: `${repoApiUrl(ctx, repo)}/actions/runs/${job.runId}`,
    run_attempt: job.attempt,
    node_id: nodeId('CR', job.id),
    head_sha: run.headSha,
    url: api,
    html_url: `${repoWebUrl(ctx, repo)}/actions/runs/${job.runId}/job/${job.id}`,
    status: job.status,
    conclusion: job.conclusion,
    created_at: job.createdAt,
    started_at: job.startedAt,
    completed_at: job.completedAt,
    name: job.name,
    steps: job.steps.map((s) => ({
      name: s.name,
      status: s.status,
      conclusion: s.conclusion,
      number: s.number,
      started_at: s.startedAt,
      completed_at: s.completedAt,
    })),
    check_run_url: `${repoApiUrl(ctx, repo)}/check-runs/${job.id}`,
    labels: job.labels,
    runner_id: job.runnerName ? 1 : null,
    runner_name: job.runnerName,
    runner_group_id: job.runnerName ? 1 : null,
    runner_group_name: job.runnerName ? 'Default' : null,
    workflow_name: run.workflowName,
    head_branch: run.headBranch,
  };
}

export function artifactShape(
  ctx: ShapeContext,
  repo: RepoRecord,
  run: WorkflowRunRecord,
  artifact: ArtifactRecord,
): Json {
  const api = `${repoApiUrl(ctx, repo)}/actions/artifacts/${artifact.id}`;
  return {
    id: artifact.id,
    node_id: nodeId('MDg', artifact.id),
    name: artifact.name,
    size_in_bytes: artifact.zip.byteLength,
    url: api,
    archive_download_url: `${api}/zip`,
    expired: false,
    created_at: artifact.createdAt,
    expires_at: artifact.expiresAt,
    updated_at: artifact.createdAt,
    digest: artifact.digest,
    workflow_run: {
      id: run.id,
      repository_id: repo.id,
      head_repository_id: repo.id,
      head_branch: run.headBranch,
      head_sha: run.headSha,
    },
  };
}
