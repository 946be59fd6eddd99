import {
  type EmulatorServices,
  HttpError,
  notFound,
  nowIso,
  paginate,
  type RouteContext,
  type Routes,
  repoFor,
  validationFailed,
} from './core.ts';
import type { EntryType, FlatEntry, GitCommit, GitSignature } from './git-store.ts';
import { botLogin, fullRepositoryShape, nodeId, repoApiUrl, repoWebUrl } from './shapes.ts';
import type { RepoRecord } from './state.ts';

// Repository contents and git data: refs, blobs, trees, commits, the contents API and branches. Objects
// are content-addressed (git-store.ts), so a tree built twice from the same files has the same sha.

type Json = Record<string, unknown>;

/** GitHub wraps base64 content at 60 characters, with a trailing newline. */
export function wrappedBase64(data: Buffer): string {
  const b64 = data.toString('base64');
  return b64.length ? `${b64.match(/.{1,60}/g)!.join('\n')}\n` : '';
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function botSignature(s: EmulatorServices): GitSignature {
  const login = botLogin(s.shapes.app);
  const user = s.state.ensureUser(login, 'Bot');
  const host = new URL(s.shapes.webUrl).hostname;
  // GitHub writes `<id>+<slug>[bot]@users.noreply.<host>`, but its own description types commit emails as
  // `format: email`, which brackets fail; the emulator drops them so that only real mismatches are reported.
  return { name: login, email: `${user.id}+${s.shapes.app.slug}-bot@users.noreply.${host}`, date: nowIso(s) };
}

function signatureFrom(
  s: EmulatorServices,
  given: { name?: string; email?: string; date?: string } | undefined,
) {
  const bot = botSignature(s);
  if (!given?.name || !given.email) return bot;
  return { name: given.name, email: given.email, date: given.date ?? bot.date };
}

export function gitCommitShape(s: EmulatorServices, repo: RepoRecord, commit: GitCommit): Json {
  const api = repoApiUrl(s.shapes, repo);
  const web = repoWebUrl(s.shapes, repo);
  return {
    sha: commit.sha,
    node_id: nodeId('C', Number.parseInt(commit.sha.slice(0, 8), 16)),
    url: `${api}/git/commits/${commit.sha}`,
    html_url: `${web}/commit/${commit.sha}`,
    author: commit.author,
    committer: commit.committer,
    message: commit.message,
    tree: { sha: commit.tree, url: `${api}/git/trees/${commit.tree}` },
    parents: commit.parents.map((p) => ({
      sha: p,
      url: `${api}/git/commits/${p}`,
      html_url: `${web}/commit/${p}`,
    })),
    verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
  };
}

/** The REST "Commit" (branches and the commits API), not the git-data commit. */
function commitShape(s: EmulatorServices, repo: RepoRecord, commit: GitCommit): Json {
  const api = repoApiUrl(s.shapes, repo);
  const web = repoWebUrl(s.shapes, repo);
  const git = gitCommitShape(s, repo, commit);
  return {
    url: `${api}/commits/${commit.sha}`,
    sha: commit.sha,
    node_id: git.node_id,
    html_url: `${web}/commit/${commit.sha}`,
    comments_url: `${api}/commits/${commit.sha}/comments`,
    commit: {
      url: git.url,
      author: commit.author,
      committer: commit.committer,
      message: commit.message,
      comment_count: 0,
      tree: git.tree,
      verification: git.verification,
    },
    author: null,
    committer: null,
    parents: git.parents,
  };
}

function refShape(s: EmulatorServices, repo: RepoRecord, ref: string, sha: string): Json {
  const api = repoApiUrl(s.shapes, repo);
  return {
    ref: `refs/${ref}`,
    node_id: nodeId('REF', repo.id),
    url: `${api}/git/refs/${ref}`,
    object: { type: 'commit', sha, url: `${api}/git/commits/${sha}` },
  };
}

function contentType(mode: string, type: EntryType): string {
  if (type === 'tree') return 'dir';
  if (type === 'commit') return 'submodule';
  return mode === '120000' ? 'symlink' : 'file';
}

function contentItem(
  s: EmulatorServices,
  repo: RepoRecord,
  ref: string,
  path: string,
  entry: { mode: string; type: EntryType; sha: string },
): Json {
  const api = repoApiUrl(s.shapes, repo);
  const web = repoWebUrl(s.shapes, repo);
  const url = `${api}/contents/${encodePath(path)}?ref=${encodeURIComponent(ref)}`;
  const gitUrl = `${api}/git/${entry.type === 'tree' ? 'trees' : 'blobs'}/${entry.sha}`;
  const htmlUrl = `${web}/${entry.type === 'tree' ? 'tree' : 'blob'}/${ref}/${encodePath(path)}`;
  const type = contentType(entry.mode, entry.type);
  return {
    type,
    size: type === 'file' || type === 'symlink' ? (repo.git.blobs.get(entry.sha)?.length ?? 0) : 0,
    name: path.split('/').pop() ?? path,
    path,
    sha: entry.sha,
    url,
    git_url: gitUrl,
    html_url: htmlUrl,
    download_url: type === 'file' ? `${web}/raw/${ref}/${encodePath(path)}` : null,
    _links: { self: url, git: gitUrl, html: htmlUrl },
  };
}

function branchHead(repo: RepoRecord, branch: string): string {
  const sha = repo.git.refs.get(`heads/${branch}`);
  if (!sha) throw new HttpError(404, `Branch ${branch} not found`);
  return sha;
}

function moveBranch(s: EmulatorServices, repo: RepoRecord, branch: string, sha: string): void {
  repo.git.refs.set(`heads/${branch}`, sha);
  repo.pushedAt = nowIso(s);
}

function listTree(repo: RepoRecord, treeSha: string, recursive: boolean, prefix = ''): Json[] {
  const out: Json[] = [];
  for (const e of repo.git.trees.get(treeSha) ?? []) {
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    const item: Json = { path, mode: e.mode, type: e.type, sha: e.sha };
    if (e.type === 'blob') item.size = repo.git.blobs.get(e.sha)?.length ?? 0;
    out.push(item);
    if (recursive && e.type === 'tree') out.push(...listTree(repo, e.sha, true, path));
  }
  return out;
}

function treeShape(s: EmulatorServices, repo: RepoRecord, sha: string, recursive: boolean): Json {
  const api = repoApiUrl(s.shapes, repo);
  const tree = listTree(repo, sha, recursive).map((e) => ({
    ...e,
    url: `${api}/git/${e.type === 'tree' ? 'trees' : 'blobs'}/${String(e.sha)}`,
  }));
  return { sha, url: `${api}/git/trees/${sha}`, tree, truncated: false };
}

interface TreeInput {
  path?: string;
  mode?: string;
  type?: 'blob' | 'tree' | 'commit';
  sha?: string | null;
  content?: string;
}

export function gitRoutes(s: EmulatorServices): Routes {
  const repo = (c: RouteContext) => repoFor(s, c);

  return {
    'repos/get': (c) => ({ status: 200, body: fullRepositoryShape(s.shapes, repo(c)) }),

    'repos/list-branches': (c) => {
      const r = repo(c);
      const api = repoApiUrl(s.shapes, r);
      const branches = [...r.git.refs]
        .filter(([ref]) => ref.startsWith('heads/'))
        .map(([ref, sha]) => ({
          name: ref.slice('heads/'.length),
          commit: { sha, url: `${api}/commits/${sha}` },
          protected: false,
        }));
      const page = paginate(branches, c);
      return { status: 200, body: page.items, headers: page.headers };
    },

    'repos/get-branch': (c) => {
      const r = repo(c);
      const name = c.params.branch ?? '';
      const sha = r.git.refs.get(`heads/${name}`);
      if (!sha) throw new HttpError(404, 'Branch not found');
      const api = repoApiUrl(s.shapes, r);
      return {
        status: 200,
        body: {
          name,
          commit: commitShape(s, r, r.git.commits.get(sha)!),
          _links: { html: `${repoWebUrl(s.shapes, r)}/tree/${name}`, self: `${api}/branches/${name}` },
          protected: false,
          protection: {
            enabled: false,
            required_status_checks: { enforcement_level: 'off', contexts: [], checks: [] },
          },
          protection_url: `${api}/branches/${name}/protection`,
        },
      };
    },

    'git/get-ref': (c) => {
      const r = repo(c);
      const ref = (c.params.ref ?? '').replace(/^refs\//, '');
      const sha = r.git.refs.get(ref);
      if (!sha) throw notFound();
      return { status: 200, body: refShape(s, r, ref, sha) };
    },

    'git/create-ref': (c) => {
      const r = repo(c);
      const body = c.body as { ref: string; sha: string };
      if (!/^refs\/[^/]+\/.+/.test(body.ref)) throw new HttpError(422, 'Reference name is invalid');
      if (!r.git.commits.has(body.sha)) throw new HttpError(422, 'Object does not exist');
      const ref = body.ref.slice('refs/'.length);
      if (r.git.refs.has(ref)) throw new HttpError(422, 'Reference already exists');
      // Git stores refs as paths: `heads/a` and `heads/a/b` cannot both exist (a file is not a directory).
      for (const other of r.git.refs.keys()) {
        if (ref.startsWith(`${other}/`) || other.startsWith(`${ref}/`))
          throw new HttpError(422, 'Reference update failed');
      }
      r.git.refs.set(ref, body.sha);
      r.pushedAt = nowIso(s);
      const shape = refShape(s, r, ref, body.sha);
      return { status: 201, body: shape, headers: { location: String(shape.url) } };
    },

    'git/update-ref': (c) => {
      const r = repo(c);
      const ref = (c.params.ref ?? '').replace(/^refs\//, '');
      const body = c.body as { sha: string; force?: boolean };
      const current = r.git.refs.get(ref);
      if (!current) throw new HttpError(422, 'Reference does not exist');
      if (!r.git.commits.has(body.sha)) throw new HttpError(422, 'Object does not exist');
      if (!body.force && !r.git.isAncestor(current, body.sha)) {
        throw new HttpError(422, 'Update is not a fast forward');
      }
      r.git.refs.set(ref, body.sha);
      r.pushedAt = nowIso(s);
      return { status: 200, body: refShape(s, r, ref, body.sha) };
    },

    'git/delete-ref': (c) => {
      const r = repo(c);
      const ref = (c.params.ref ?? '').replace(/^refs\//, '');
      if (!r.git.refs.delete(ref)) throw new HttpError(422, 'Reference does not exist');
      return { status: 204 };
    },

    'git/create-blob': (c) => {
      const r = repo(c);
      const body = c.body as { content: string; encoding?: string };
      const data = Buffer.from(body.content, body.encoding === 'base64' ? 'base64' : 'utf8');
      const sha = r.git.writeBlob(data);
      const url = `${repoApiUrl(s.shapes, r)}/git/blobs/${sha}`;
      return { status: 201, body: { url, sha }, headers: { location: url } };
    },

    'git/get-blob': (c) => {
      const r = repo(c);
      const sha = c.params.file_sha ?? '';
      const data = r.git.blobs.get(sha);
      if (!data) throw notFound();
      return {
        status: 200,
        body: {
          content: wrappedBase64(data),
          encoding: 'base64',
          url: `${repoApiUrl(s.shapes, r)}/git/blobs/${sha}`,
          sha,
          size: data.length,
          node_id: nodeId('B', Number.parseInt(sha.slice(0, 8), 16)),
        },
      };
    },

    'git/create-tree': (c) => {
      const r = repo(c);
      const body = c.body as { tree: TreeInput[]; base_tree?: string };
      let flat = new Map<string, FlatEntry>();
      if (body.base_tree) {
        if (!r.git.trees.has(body.base_tree)) throw validationFailed('Tree', 'base_tree', 'invalid');
        flat = r.git.flatten(body.base_tree);
      }
      for (const entry of body.tree) {
        const path = (entry.path ?? '').replace(/^\/+|\/+$/g, '');
        if (!path) throw validationFailed('Tree', 'path', 'missing_field');
        if (entry.content !== undefined) {
          flat.set(path, {
            mode: entry.mode ?? '100644',
            type: 'blob',
            sha: r.git.writeBlob(Buffer.from(entry.content)),
          });
          continue;
        }
        if (entry.sha === null || entry.sha === undefined) {
          // A null sha deletes the path, and everything under it when it is a directory.
          for (const p of [...flat.keys()]) if (p === path || p.startsWith(`${path}/`)) flat.delete(p);
          continue;
        }
        if (entry.type === 'tree' || entry.mode === '040000') {
          if (!r.git.trees.has(entry.sha))
            throw new HttpError(422, `tree.sha ${entry.sha} is not a valid tree`);
          for (const p of [...flat.keys()]) if (p === path || p.startsWith(`${path}/`)) flat.delete(p);
          for (const [p, f] of r.git.flatten(entry.sha)) flat.set(`${path}/${p}`, f);
          continue;
        }
        if (entry.type !== 'commit' && !r.git.blobs.has(entry.sha)) {
          throw new HttpError(422, `tree.sha ${entry.sha} is not a valid blob`);
        }
        flat.set(path, {
          mode: entry.mode ?? '100644',
          type: entry.type === 'commit' ? 'commit' : 'blob',
          sha: entry.sha,
        });
      }
      const sha = r.git.writeFlatTree(flat);
      return { status: 201, body: treeShape(s, r, sha, false) };
    },

    'git/get-tree': (c) => {
      const r = repo(c);
      const sha = c.params.tree_sha ?? '';
      const treeSha = r.git.trees.has(sha) ? sha : r.git.commits.get(r.git.resolve(sha) ?? '')?.tree;
      if (!treeSha) throw notFound();
      const recursive = c.query.has('recursive');
      return { status: 200, body: treeShape(s, r, treeSha, recursive) };
    },

    'git/create-commit': (c) => {
      const r = repo(c);
      const body = c.body as {
        message: string;
        tree: string;
        parents?: string[];
        author?: { name?: string; email?: string; date?: string };
        committer?: { name?: string; email?: string; date?: string };
      };
      if (!r.git.trees.has(body.tree)) throw new HttpError(422, 'Tree SHA does not exist');
      for (const p of body.parents ?? []) {
        if (!r.git.commits.has(p))
          throw new HttpError(422, 'Parent SHA does not exist or is not a commit object');
      }
      const author = signatureFrom(s, body.author);
      const sha = r.git.writeCommit({
        tree: body.tree,
        parents: body.parents ?? [],
        message: body.message,
        author,
        committer: body.committer ? signatureFrom(s, body.committer) : author,
      });
      const shape = gitCommitShape(s, r, r.git.commits.get(sha)!);
      return { status: 201, body: shape, headers: { location: shape.url as string } };
    },

    'git/get-commit': (c) => {
      const r = repo(c);
      const commit = r.git.commits.get(c.params.commit_sha ?? '');
      if (!commit) throw notFound();
      return { status: 200, body: gitCommitShape(s, r, commit) };
    },

    'repos/get-content': (c) => {
      const r = repo(c);
      const ref = c.query.get('ref') ?? r.defaultBranch;
      const sha = r.git.resolve(ref);
      if (!sha) throw new HttpError(404, `No commit found for the ref ${ref}`);
      const path = (c.params.path ?? '').replace(/^\/+|\/+$/g, '');
      const commit = r.git.commits.get(sha)!;
      const entry = r.git.entryAt(commit.tree, path);
      if (!entry) throw notFound();
      if (entry.type === 'tree') {
        const items = (r.git.trees.get(entry.sha) ?? []).map((e) =>
          contentItem(s, r, ref, path ? `${path}/${e.name}` : e.name, e),
        );
        return { status: 200, body: items };
      }
      const item = contentItem(s, r, ref, path, entry);
      if (item.type === 'file') {
        const data = r.git.blobs.get(entry.sha) ?? Buffer.alloc(0);
        Object.assign(item, { content: wrappedBase64(data), encoding: 'base64' });
      }
      return { status: 200, body: item };
    },

    'repos/create-or-update-file-contents': (c) => {
      const r = repo(c);
      const body = c.body as {
        message: string;
        content: string;
        sha?: string;
        branch?: string;
        author?: { name?: string; email?: string; date?: string };
        committer?: { name?: string; email?: string; date?: string };
      };
      const path = (c.params.path ?? '').replace(/^\/+|\/+$/g, '');
      const branch = body.branch ?? r.defaultBranch;
      const head = branchHead(r, branch);
      const existing = r.git.entryAt(r.git.commits.get(head)!.tree, path);
      if (existing?.type === 'tree') throw validationFailed('Content', 'path', 'invalid');
      if (existing && body.sha === undefined) throw new HttpError(422, '"sha" wasn\'t supplied.');
      if (existing && body.sha !== existing.sha)
        throw new HttpError(409, `${path} does not match ${body.sha}`);
      const signature = signatureFrom(s, body.committer ?? body.author);
      const sha = r.git.commitFiles(
        head,
        { [path]: Buffer.from(body.content, 'base64') },
        body.message,
        signature,
      );
      moveBranch(s, r, branch, sha);
      const commit = r.git.commits.get(sha)!;
      const entry = r.git.entryAt(commit.tree, path)!;
      return {
        status: existing ? 200 : 201,
        body: { content: contentItem(s, r, branch, path, entry), commit: gitCommitShape(s, r, commit) },
      };
    },

    'repos/delete-file': (c) => {
      const r = repo(c);
      const body = c.body as { message: string; sha: string; branch?: string };
      const path = (c.params.path ?? '').replace(/^\/+|\/+$/g, '');
      const branch = body.branch ?? r.defaultBranch;
      const head = branchHead(r, branch);
      const existing = r.git.entryAt(r.git.commits.get(head)!.tree, path);
      if (!existing || existing.type === 'tree') throw notFound();
      if (body.sha !== existing.sha) throw new HttpError(409, `${path} does not match ${body.sha}`);
      const sha = r.git.commitFiles(head, { [path]: null }, body.message, botSignature(s));
      moveBranch(s, r, branch, sha);
      return { status: 200, body: { content: null, commit: gitCommitShape(s, r, r.git.commits.get(sha)!) } };
    },
  };
}

/** Commits files on a branch of a repository directly (test setup, not an API call). */
export function commitToBranch(
  s: EmulatorServices,
  repo: RepoRecord,
  branch: string,
  files: Record<string, string | null>,
  message: string,
  signature: GitSignature = botSignature(s),
): string {
  const head = repo.git.refs.get(`heads/${branch}`);
  const changes = Object.fromEntries(
    Object.entries(files).map(([p, content]) => [p, content === null ? null : Buffer.from(content)]),
  );
  const sha = repo.git.commitFiles(head, changes, message, signature);
  moveBranch(s, repo, branch, sha);
  return sha;
}
