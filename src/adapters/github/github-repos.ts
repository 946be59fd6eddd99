import type { CodeReader, RepoFiles, RepoInstallations } from '../../app/ports.ts';
import { GithubCodeHost, type Octokit, type RepoRef } from './github-code-host.ts';
import { GithubCodeReader } from './github-code-reader.ts';

// The repositories rea makes plans from, as its GitHub App reaches them: the ports `planFromRepo` reads a
// repository through, for `/rea plan` in a comment (the webhook's installation) and in Slack (found here).

/** A repository's default branch and files through an installation's Octokit. */
export class GithubRepoFiles implements RepoFiles {
  private readonly host: GithubCodeHost;

  constructor(
    private readonly octokit: Octokit,
    private readonly repo: RepoRef,
  ) {
    this.host = new GithubCodeHost(octokit, repo);
  }

  defaultBranch(): Promise<{ name: string; sha: string }> {
    return this.host.defaultBranch();
  }

  readFile(path: string, ref: string): Promise<string | undefined> {
    return this.host.readFile(path, ref);
  }

  codeAt(sha: string): CodeReader {
    return new GithubCodeReader(this.octokit, this.repo, sha);
  }
}

function errStatus(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === 'number' ? s : undefined;
}

/** Finds the GitHub App's installation on a repository, and reads the repository through it. */
export class GithubInstallations implements RepoInstallations {
  constructor(
    private readonly deps: {
      /** The GitHub App's own Octokit (JWT), to find the installation of a repository. */
      appOctokit(): Promise<Octokit>;
      octokitFor(installationId: number): Promise<Octokit>;
    },
  ) {}

  async open(owner: string, repo: string): Promise<{ installationId: number; files: RepoFiles } | undefined> {
    const app = await this.deps.appOctokit();
    let installationId: number;
    try {
      const { data } = await app.request('GET /repos/{owner}/{repo}/installation', { owner, repo });
      installationId = data.id;
    } catch (err) {
      if (errStatus(err) === 404) return undefined;
      throw err;
    }
    const octokit = await this.deps.octokitFor(installationId);
    return { installationId, files: new GithubRepoFiles(octokit, { owner, repo }) };
  }
}
