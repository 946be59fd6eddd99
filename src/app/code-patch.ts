import path from 'node:path';
import { applyPatch, parsePatch, type StructuredPatch } from 'diff';
import { minimatch } from 'minimatch';

// Code hypotheses carry a unified diff. It is data: parsed and applied here in JavaScript (jsdiff), never
// handed to a shell or to `git apply`. The same rules hold in a local scratch copy and on a GitHub branch:
// only files the model's `.rea.yml` lists as `editable`, only relative paths inside the repository, files
// changed or created (not renamed or deleted), and every hunk must apply exactly.

/** Starts the reason of an attempt whose code patch was refused (the code-patch-rejected runbook matches it). */
export const CODE_PATCH_REJECTED = 'rea: the code patch of hypothesis';

export type PatchResult = { ok: true; files: Record<string, string> } | { ok: false; reason: string };

export interface FileChange {
  path: string;
  create: boolean;
  patch: StructuredPatch;
}

/** The files a patch changes, checked against `editable`; a reason when the patch cannot be used. */
export function patchChanges(
  patch: string,
  editable: readonly string[],
): { ok: true; changes: FileChange[] } | { ok: false; reason: string } {
  let parsed: StructuredPatch[];
  try {
    parsed = parsePatch(patch);
  } catch (err) {
    return { ok: false, reason: `the patch is not a valid unified diff: ${errorText(err)}` };
  }
  const files = parsed.filter((p) => p.oldFileName !== undefined || p.newFileName !== undefined);
  if (files.length === 0) return { ok: false, reason: 'the patch changes no file' };
  const changes: FileChange[] = [];
  const seen = new Set<string>();
  for (const p of files) {
    const oldName = stripPrefix(p.oldFileName, 'a/');
    const newName = stripPrefix(p.newFileName, 'b/');
    if (newName === undefined || newName === '/dev/null')
      return {
        ok: false,
        reason: `the patch deletes ${oldName ?? 'a file'}; deleting files is not supported`,
      };
    const create = oldName === '/dev/null';
    if (!create && oldName !== newName)
      return { ok: false, reason: `the patch renames ${oldName} to ${newName}; renaming is not supported` };
    const safe = safeRelative(newName);
    if (!safe.ok) return safe;
    if (editable.length === 0)
      return { ok: false, reason: `${safe.path} is not editable: .rea.yml lists no editable files` };
    if (!editable.some((glob) => minimatch(safe.path, glob, { dot: true })))
      return {
        ok: false,
        reason: `${safe.path} is outside editable (${editable.join(', ')}) in .rea.yml`,
      };
    if (seen.has(safe.path)) return { ok: false, reason: `the patch changes ${safe.path} twice` };
    seen.add(safe.path);
    if (p.hunks.length === 0) return { ok: false, reason: `the patch has no hunk for ${safe.path}` };
    changes.push({ path: safe.path, create, patch: p });
  }
  return { ok: true, changes };
}

/**
 * Applies a patch to files read through `read` (undefined when a file does not exist) and returns the new
 * text of every changed file. Nothing is written: the caller writes where it is safe to.
 */
export async function applyCodePatch(
  patch: string,
  editable: readonly string[],
  read: (file: string) => Promise<string | undefined>,
): Promise<PatchResult> {
  const checked = patchChanges(patch, editable);
  if (!checked.ok) return checked;
  const files: Record<string, string> = {};
  for (const c of checked.changes) {
    const before = await read(c.path);
    if (c.create && before !== undefined)
      return { ok: false, reason: `the patch creates ${c.path}, which already exists` };
    if (!c.create && before === undefined)
      return { ok: false, reason: `the patch changes ${c.path}, which does not exist` };
    const after = applyPatch(before ?? '', c.patch);
    if (after === false)
      return {
        ok: false,
        reason: `the patch does not apply to ${c.path}: its context differs from the file`,
      };
    files[c.path] = after;
  }
  return { ok: true, files };
}

function stripPrefix(name: string | undefined, prefix: string): string | undefined {
  if (name === undefined) return undefined;
  const n = name.trim();
  return n.startsWith(prefix) ? n.slice(prefix.length) : n;
}

/** A repository-relative POSIX path that cannot leave the repository or touch its git metadata. */
function safeRelative(name: string): { ok: true; path: string } | { ok: false; reason: string } {
  if (name.includes('\0') || name.includes('\\'))
    return { ok: false, reason: `the patch names an unusable path ${JSON.stringify(name)}` };
  if (path.posix.isAbsolute(name)) return { ok: false, reason: `the patch names an absolute path ${name}` };
  const norm = path.posix.normalize(name);
  if (norm === '..' || norm.startsWith('../') || norm === '.' || norm === '')
    return { ok: false, reason: `the patch names ${name}, which is outside the repository` };
  if (norm === '.git' || norm.startsWith('.git/'))
    return { ok: false, reason: `the patch touches git metadata (${name})` };
  return { ok: true, path: norm };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
