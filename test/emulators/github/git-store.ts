import { createHash } from 'node:crypto';

// A repository's git objects, hashed the way git hashes them so that shas are real 40-hex object ids and
// identical content gets identical shas (what lets the bot detect "nothing changed").

export type EntryType = 'blob' | 'tree' | 'commit';

export interface TreeEntry {
  /** Name inside its tree (no slashes). */
  name: string;
  /** API form: 100644, 100755, 040000, 160000, 120000. */
  mode: string;
  type: EntryType;
  sha: string;
}

export interface FlatEntry {
  mode: string;
  type: 'blob' | 'commit';
  sha: string;
}

export interface GitSignature {
  name: string;
  email: string;
  /** ISO 8601, seconds precision. */
  date: string;
}

export interface GitCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  author: GitSignature;
  committer: GitSignature;
}

function gitHash(kind: string, body: Buffer): string {
  return createHash('sha1')
    .update(Buffer.concat([Buffer.from(`${kind} ${body.length}\0`), body]))
    .digest('hex');
}

function objectMode(mode: string): string {
  return mode.replace(/^0+/, '');
}

// git orders tree entries by name, comparing a subtree as if its name ended with '/'.
function sortKey(e: TreeEntry): string {
  return e.type === 'tree' ? `${e.name}/` : e.name;
}

function signatureLine(s: GitSignature): string {
  return `${s.name} <${s.email}> ${Math.floor(Date.parse(s.date) / 1000)} +0000`;
}

export class GitStore {
  readonly blobs = new Map<string, Buffer>();
  readonly trees = new Map<string, TreeEntry[]>();
  readonly commits = new Map<string, GitCommit>();
  /** `heads/main`, `tags/v1` -> commit sha (without the `refs/` prefix). */
  readonly refs = new Map<string, string>();

  writeBlob(content: Buffer): string {
    const sha = gitHash('blob', content);
    this.blobs.set(sha, content);
    return sha;
  }

  writeTree(entries: TreeEntry[]): string {
    const sorted = [...entries].sort((a, b) =>
      sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0,
    );
    const body = Buffer.concat(
      sorted.map((e) =>
        Buffer.concat([Buffer.from(`${objectMode(e.mode)} ${e.name}\0`), Buffer.from(e.sha, 'hex')]),
      ),
    );
    const sha = gitHash('tree', body);
    this.trees.set(sha, sorted);
    return sha;
  }

  /** Builds nested trees from `path -> entry` (files only; directories are implied by paths). */
  writeFlatTree(flat: Map<string, FlatEntry>): string {
    interface Dir {
      files: Map<string, FlatEntry>;
      dirs: Map<string, Dir>;
    }
    const root: Dir = { files: new Map(), dirs: new Map() };
    for (const [path, entry] of flat) {
      const parts = path.split('/');
      let dir = root;
      for (const part of parts.slice(0, -1)) {
        let next = dir.dirs.get(part);
        if (!next) {
          next = { files: new Map(), dirs: new Map() };
          dir.dirs.set(part, next);
        }
        dir = next;
      }
      dir.files.set(parts[parts.length - 1]!, entry);
    }
    const write = (dir: Dir): string => {
      const entries: TreeEntry[] = [];
      for (const [name, e] of dir.files) entries.push({ name, mode: e.mode, type: e.type, sha: e.sha });
      for (const [name, sub] of dir.dirs)
        entries.push({ name, mode: '040000', type: 'tree', sha: write(sub) });
      return this.writeTree(entries);
    };
    return write(root);
  }

  flatten(treeSha: string, prefix = ''): Map<string, FlatEntry> {
    const out = new Map<string, FlatEntry>();
    for (const e of this.trees.get(treeSha) ?? []) {
      const path = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.type === 'tree') for (const [p, f] of this.flatten(e.sha, path)) out.set(p, f);
      else out.set(path, { mode: e.mode, type: e.type, sha: e.sha });
    }
    return out;
  }

  /** The entry at `path` inside a tree; the empty path is the tree itself. */
  entryAt(treeSha: string, path: string): { mode: string; type: EntryType; sha: string } | undefined {
    const parts = path.split('/').filter((p) => p !== '');
    let current: { mode: string; type: EntryType; sha: string } = {
      mode: '040000',
      type: 'tree',
      sha: treeSha,
    };
    for (const part of parts) {
      if (current.type !== 'tree') return undefined;
      const next = this.trees.get(current.sha)?.find((e) => e.name === part);
      if (!next) return undefined;
      current = next;
    }
    return current;
  }

  writeCommit(c: Omit<GitCommit, 'sha'>): string {
    const lines = [`tree ${c.tree}`, ...c.parents.map((p) => `parent ${p}`)];
    lines.push(`author ${signatureLine(c.author)}`, `committer ${signatureLine(c.committer)}`, '', c.message);
    const sha = gitHash('commit', Buffer.from(lines.join('\n')));
    this.commits.set(sha, { ...c, sha });
    return sha;
  }

  /** Commits a set of file changes (content, or null to delete) on top of `parent` (or an empty tree). */
  commitFiles(
    parent: string | undefined,
    changes: Record<string, Buffer | null>,
    message: string,
    signature: GitSignature,
  ): string {
    const base = parent ? this.commits.get(parent) : undefined;
    const flat = base ? this.flatten(base.tree) : new Map<string, FlatEntry>();
    for (const [path, content] of Object.entries(changes)) {
      if (content === null) flat.delete(path);
      else flat.set(path, { mode: '100644', type: 'blob', sha: this.writeBlob(content) });
    }
    const tree = this.writeFlatTree(flat);
    return this.writeCommit({
      tree,
      parents: parent ? [parent] : [],
      message,
      author: signature,
      committer: signature,
    });
  }

  isAncestor(ancestor: string, descendant: string): boolean {
    const seen = new Set<string>();
    const queue = [descendant];
    while (queue.length) {
      const sha = queue.shift()!;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      queue.push(...(this.commits.get(sha)?.parents ?? []));
    }
    return false;
  }

  /** Number of commits reachable from `head` but not from `base`. */
  commitsBetween(base: string, head: string): number {
    const reachable = new Set<string>();
    const walk = (start: string, into: Set<string>) => {
      const queue = [start];
      while (queue.length) {
        const sha = queue.shift()!;
        if (into.has(sha)) continue;
        into.add(sha);
        queue.push(...(this.commits.get(sha)?.parents ?? []));
      }
    };
    walk(base, reachable);
    const ahead = new Set<string>();
    walk(head, ahead);
    return [...ahead].filter((s) => !reachable.has(s)).length;
  }

  /** Resolves a branch name, tag name, `heads/x`, `refs/heads/x` or a commit sha to a commit sha. */
  resolve(ref: string): string | undefined {
    const short = ref.replace(/^refs\//, '');
    return (
      this.refs.get(short) ??
      this.refs.get(`heads/${short}`) ??
      this.refs.get(`tags/${short}`) ??
      (/^[0-9a-f]{40}$/.test(ref) && this.commits.has(ref) ? ref : undefined)
    );
  }
}
