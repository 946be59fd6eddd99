import type { ProbotOctokit } from 'probot';

// The repository side of GitHub: files, branches, pull requests, comments, labels, check runs, and who
// may approve. Every ensure* is idempotent: it finds what an earlier call made and updates it in place.

export type Octokit = InstanceType<typeof ProbotOctokit>;

export interface RepoRef {
  owner: string;
  repo: string;
}

/** The HTTP status of an Octokit error, if it has one. */
export function status(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'status' in err
    ? Number((err as { status: unknown }).status)
    : undefined;
}

export class GithubCodeHost {
  constructor(
    readonly octokit: Octokit,
    readonly ref: RepoRef,
  ) {}

  async defaultBranch(): Promise<{ name: string; sha: string }> {
    const { data: repo } = await this.octokit.rest.repos.get({ ...this.ref });
    const { data: ref } = await this.octokit.rest.git.getRef({
      ...this.ref,
      ref: `heads/${repo.default_branch}`,
    });
    return { name: repo.default_branch, sha: ref.object.sha };
  }

  /** A file's text at a ref; undefined when it does not exist. */
  async readFile(path: string, ref?: string): Promise<string | undefined> {
    try {
      const { data } = await this.octokit.rest.repos.getContent({
        ...this.ref,
        path,
        ...(ref ? { ref } : {}),
      });
      if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) return undefined;
      return Buffer.from(data.content, 'base64').toString('utf8');
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  /** Makes `branch` exist, starting at `fromSha` when it has to be created. */
  async ensureBranch(branch: string, fromSha: string): Promise<void> {
    try {
      await this.octokit.rest.git.getRef({ ...this.ref, ref: `heads/${branch}` });
    } catch (err) {
      if (status(err) !== 404) throw err;
      await this.octokit.rest.git.createRef({ ...this.ref, ref: `refs/heads/${branch}`, sha: fromSha });
    }
  }

  /** Whether `branch` exists. */
  async branchExists(branch: string): Promise<boolean> {
    try {
      await this.octokit.rest.git.getRef({ ...this.ref, ref: `heads/${branch}` });
      return true;
    } catch (err) {
      if (status(err) === 404) return false;
      throw err;
    }
  }

  /**
   * Makes `branch` exist as one commit on `fromSha` that writes `files`, built with the git data API and
   * published by creating the ref last: the branch never exists without its files, so finding it means
   * it is complete. A branch that already exists is left as it is; returns whether it was created.
   */
  async ensureBranchWithFiles(
    branch: string,
    fromSha: string,
    files: Record<string, string>,
    message: string,
  ): Promise<boolean> {
    if (await this.branchExists(branch)) return false;
    const { data: base } = await this.octokit.rest.git.getCommit({ ...this.ref, commit_sha: fromSha });
    const { data: tree } = await this.octokit.rest.git.createTree({
      ...this.ref,
      base_tree: base.tree.sha,
      tree: Object.entries(files).map(([path, content]) => ({
        path,
        mode: '100644' as const,
        type: 'blob' as const,
        content,
      })),
    });
    const { data: commit } = await this.octokit.rest.git.createCommit({
      ...this.ref,
      message,
      tree: tree.sha,
      parents: [fromSha],
    });
    try {
      await this.octokit.rest.git.createRef({ ...this.ref, ref: `refs/heads/${branch}`, sha: commit.sha });
      return true;
    } catch (err) {
      // Another delivery of the same effect made it first; its commit holds the same files.
      if (status(err) === 422 && (await this.branchExists(branch))) return false;
      throw err;
    }
  }

  /** Writes files on a branch, one commit per changed file; unchanged files are left alone. */
  async ensureFiles(branch: string, files: Record<string, string>, message: string): Promise<void> {
    for (const [path, text] of Object.entries(files)) {
      let sha: string | undefined;
      try {
        const { data } = await this.octokit.rest.repos.getContent({ ...this.ref, path, ref: branch });
        if (!Array.isArray(data) && data.type === 'file' && 'content' in data) {
          if (Buffer.from(data.content, 'base64').toString('utf8') === text) continue;
          sha = data.sha;
        }
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
      await this.octokit.rest.repos.createOrUpdateFileContents({
        ...this.ref,
        path,
        branch,
        message,
        content: Buffer.from(text, 'utf8').toString('base64'),
        ...(sha ? { sha } : {}),
      });
    }
  }

  /** Opens the PR from `head` to `base`, or updates the open one; returns its number. */
  async ensurePullRequest(args: {
    head: string;
    base: string;
    title: string;
    body: string;
    draft?: boolean;
  }): Promise<number> {
    const { data: open } = await this.octokit.rest.pulls.list({
      ...this.ref,
      head: `${this.ref.owner}:${args.head}`,
      state: 'open',
    });
    const existing = open.find((p) => p.head.ref === args.head);
    if (existing) {
      if (existing.title !== args.title || (existing.body ?? '') !== args.body) {
        await this.octokit.rest.pulls.update({
          ...this.ref,
          pull_number: existing.number,
          title: args.title,
          body: args.body,
        });
      }
      return existing.number;
    }
    try {
      const { data: pr } = await this.octokit.rest.pulls.create({
        ...this.ref,
        head: args.head,
        base: args.base,
        title: args.title,
        body: args.body,
        ...(args.draft ? { draft: true } : {}),
      });
      return pr.number;
    } catch (err) {
      // "A pull request already exists": another delivery opened it between our list and create.
      if (status(err) !== 422) throw err;
      const { data: again } = await this.octokit.rest.pulls.list({
        ...this.ref,
        head: `${this.ref.owner}:${args.head}`,
        state: 'open',
      });
      const made = again.find((p) => p.head.ref === args.head);
      if (!made) throw err;
      return made.number;
    }
  }

  async addLabels(issueNumber: number, labels: string[]): Promise<void> {
    await this.octokit.rest.issues.addLabels({ ...this.ref, issue_number: issueNumber, labels });
  }

  /**
   * The one comment carrying `marker`, created or updated in place. `knownId` skips the search when rea
   * already knows the comment; a deleted comment is made again.
   */
  async ensureComment(issueNumber: number, marker: string, body: string, knownId?: number): Promise<number> {
    if (knownId !== undefined) {
      try {
        await this.octokit.rest.issues.updateComment({ ...this.ref, comment_id: knownId, body });
        return knownId;
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
    }
    const comments = await this.octokit.paginate(this.octokit.rest.issues.listComments, {
      ...this.ref,
      issue_number: issueNumber,
      per_page: 100,
    });
    const mine = comments.find((c) => (c.body ?? '').includes(marker));
    if (mine) {
      if (mine.body !== body)
        await this.octokit.rest.issues.updateComment({ ...this.ref, comment_id: mine.id, body });
      return mine.id;
    }
    const { data } = await this.octokit.rest.issues.createComment({
      ...this.ref,
      issue_number: issueNumber,
      body,
    });
    return data.id;
  }

  async comment(issueNumber: number, body: string): Promise<void> {
    await this.octokit.rest.issues.createComment({ ...this.ref, issue_number: issueNumber, body });
  }

  async ensureCheckRun(args: {
    id?: number;
    headSha: string;
    name: string;
    status: 'queued' | 'in_progress' | 'completed';
    conclusion?: 'success' | 'neutral' | 'cancelled' | 'action_required' | 'failure';
    title: string;
    summary: string;
    text?: string;
  }): Promise<number> {
    const output = {
      title: args.title,
      summary: args.summary,
      ...(args.text ? { text: args.text.slice(0, 60_000) } : {}),
    };
    const fields = {
      status: args.status,
      ...(args.status === 'completed' ? { conclusion: args.conclusion ?? 'neutral' } : {}),
      output,
    };
    if (args.id !== undefined) {
      await this.octokit.rest.checks.update({ ...this.ref, check_run_id: args.id, ...fields });
      return args.id;
    }
    const { data } = await this.octokit.rest.checks.create({
      ...this.ref,
      name: args.name,
      head_sha: args.headSha,
      ...fields,
    });
    return data.id;
  }

  async branchSha(branch: string): Promise<string> {
    const { data } = await this.octokit.rest.git.getRef({ ...this.ref, ref: `heads/${branch}` });
    return data.object.sha;
  }

  /**
   * Whether `login` may act as an approver: listed in `approvers` (a user, or `@org/team` they belong to)
   * and holding write access to the repository. Returns the reason when not.
   */
  async mayApprove(
    login: string,
    approvers: string[],
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const listed = await this.isListed(login, approvers);
    if (!listed) {
      return {
        ok: false,
        reason: `@${login} is not an approver of this model (.rea.yml approvers.github: ${approvers.join(', ') || 'none'})`,
      };
    }
    let permission = 'none';
    try {
      const { data } = await this.octokit.rest.repos.getCollaboratorPermissionLevel({
        ...this.ref,
        username: login,
      });
      permission = data.permission;
    } catch (err) {
      if (status(err) !== 404) throw err;
    }
    if (permission !== 'admin' && permission !== 'write' && permission !== 'maintain') {
      return {
        ok: false,
        reason: `@${login} is listed as an approver but has ${permission} access to ${this.ref.owner}/${this.ref.repo}; write access is required`,
      };
    }
    return { ok: true };
  }

  private async isListed(login: string, approvers: string[]): Promise<boolean> {
    const lower = login.toLowerCase();
    for (const a of approvers) {
      const team = /^@([^/]+)\/(.+)$/.exec(a);
      if (!team) {
        if (a.replace(/^@/, '').toLowerCase() === lower) return true;
        continue;
      }
      try {
        const { data } = await this.octokit.rest.teams.getMembershipForUserInOrg({
          org: team[1]!,
          team_slug: team[2]!,
          username: login,
        });
        if (data.state === 'active') return true;
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
    }
    return false;
  }
}
