import type { GitStore } from './git-store.ts';
import type { PullDiffStats } from './shapes.ts';
import type { IssueRecord, RepoRecord } from './state.ts';

// What a pull request changes: the files between the merge base and the head branch, with line counts,
// as the files endpoint and the additions/deletions/changed_files fields report them.

export interface FileChange {
  filename: string;
  status: 'added' | 'removed' | 'modified';
  sha: string | null;
  additions: number;
  deletions: number;
}

function mergeBase(git: GitStore, a: string, b: string): string | undefined {
  const ancestors = new Set<string>();
  const queue = [a];
  while (queue.length) {
    const sha = queue.shift()!;
    if (ancestors.has(sha)) continue;
    ancestors.add(sha);
    queue.push(...(git.commits.get(sha)?.parents ?? []));
  }
  const seen = new Set<string>();
  const other = [b];
  while (other.length) {
    const sha = other.shift()!;
    if (ancestors.has(sha)) return sha;
    if (seen.has(sha)) continue;
    seen.add(sha);
    other.push(...(git.commits.get(sha)?.parents ?? []));
  }
  return undefined;
}

function lines(git: GitStore, sha: string | undefined): string[] {
  if (!sha) return [];
  const text = git.blobs.get(sha)?.toString('utf8') ?? '';
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

// Counts lines as a multiset difference: not a real diff, but additions and deletions are right for the
// whole-file rewrites and appends that plan files see.
function lineChanges(before: string[], after: string[]): { additions: number; deletions: number } {
  const counts = new Map<string, number>();
  for (const l of before) counts.set(l, (counts.get(l) ?? 0) + 1);
  let additions = 0;
  for (const l of after) {
    const n = counts.get(l) ?? 0;
    if (n > 0) counts.set(l, n - 1);
    else additions++;
  }
  let deletions = 0;
  for (const n of counts.values()) deletions += n;
  return { additions, deletions };
}

function endpoints(repo: RepoRecord, issue: IssueRecord): { base?: string; head?: string } {
  const pull = issue.pull!;
  const head = repo.git.resolve(`heads/${pull.head}`) ?? pull.mergeCommitSha ?? undefined;
  const baseHead = repo.git.resolve(`heads/${pull.base}`);
  if (!head || !baseHead) return {};
  return { head, base: mergeBase(repo.git, head, baseHead) ?? baseHead };
}

export function pullFiles(repo: RepoRecord, issue: IssueRecord): FileChange[] {
  const { base, head } = endpoints(repo, issue);
  if (!base || !head) return [];
  const git = repo.git;
  const before = git.flatten(git.commits.get(base)!.tree);
  const after = git.flatten(git.commits.get(head)!.tree);
  const out: FileChange[] = [];
  for (const path of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(path);
    const b = after.get(path);
    if (a?.sha === b?.sha) continue;
    const status = !a ? 'added' : !b ? 'removed' : 'modified';
    out.push({
      filename: path,
      status,
      sha: b?.sha ?? null,
      ...lineChanges(lines(git, a?.sha), lines(git, b?.sha)),
    });
  }
  return out;
}

export function pullStats(repo: RepoRecord, issue: IssueRecord): PullDiffStats {
  const files = pullFiles(repo, issue);
  const { base, head } = endpoints(repo, issue);
  return {
    commits: base && head ? repo.git.commitsBetween(base, head) : 0,
    additions: files.reduce((n, f) => n + f.additions, 0),
    deletions: files.reduce((n, f) => n + f.deletions, 0),
    changedFiles: files.length,
  };
}
