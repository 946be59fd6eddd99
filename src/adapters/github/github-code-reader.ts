import { minimatch } from 'minimatch';
import type { CodeReader } from '../../app/ports.ts';
import { GithubCodeHost, type Octokit, type RepoRef } from './github-code-host.ts';

// A repository at one commit, read-only through the git trees and contents APIs: what the research agent
// sees of the code when a plan is requested on GitHub. Pinned to a sha so that patches are checked against
// the exact code the plan's branches will start from.

export class GithubCodeReader implements CodeReader {
  readonly label: string;
  private readonly host: GithubCodeHost;

  constructor(
    private readonly octokit: Octokit,
    private readonly repo: RepoRef,
    private readonly sha: string,
  ) {
    this.label = `${repo.owner}/${repo.repo}@${sha.slice(0, 7)}`;
    this.host = new GithubCodeHost(octokit, repo);
  }

  async list(globs: readonly string[]): Promise<string[]> {
    if (globs.length === 0) return [];
    const { data } = await this.octokit.rest.git.getTree({
      ...this.repo,
      tree_sha: this.sha,
      recursive: '1',
    });
    return data.tree
      .filter((e) => e.type === 'blob' && e.path !== undefined)
      .map((e) => e.path as string)
      .filter((p) => globs.some((g) => minimatch(p, g)))
      .sort();
  }

  read(path: string): Promise<string | undefined> {
    return this.host.readFile(path, this.sha);
  }
}
