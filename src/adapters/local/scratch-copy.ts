import { constants } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { applyCodePatch, CODE_PATCH_REJECTED } from '../../app/code-patch.ts';
import type { RunJob } from '../../app/ports.ts';

// An attempt of a code hypothesis runs in a scratch copy of the model directory (`<attempt dir>/code`) with
// the hypothesis's patch applied in JavaScript; the model directory itself is never written. A patch that
// does not apply, or touches a path outside the copy or outside `editable`, fails the attempt before
// anything runs, with a reason the `code-patch-rejected` runbook recognises.

export type CodePatch = NonNullable<RunJob['code']>;

/** Where the scratch copy of an attempt goes (removed with removeCodeCopy when the attempt ends). */
export function codeCopyDir(attemptDir: string): string {
  return path.join(attemptDir, 'code');
}

/**
 * Makes `<attempt dir>/code`: a copy of the model directory (without .git, rea's own .rea data and the
 * output root; node_modules linked, not copied) with the patch applied. The patch text is only parsed.
 */
export async function prepareCodeCopy(
  model: { dir: string; outputRoot: string; editable?: readonly string[] },
  attemptDir: string,
  code: CodePatch,
): Promise<{ ok: true; dir: string } | { ok: false; reason: string }> {
  const refuse = (why: string) => ({
    ok: false as const,
    reason: `${CODE_PATCH_REJECTED} ${code.hypothesisId} (${code.title}) was not applied: ${why}`,
  });
  const src = model.dir;
  const dst = codeCopyDir(attemptDir);
  const skip = new Set([path.join(src, '.git'), path.join(src, '.rea'), path.join(src, 'node_modules')]);
  const out = model.outputRoot;
  try {
    await rm(dst, { recursive: true, force: true });
    await writeFile(path.join(attemptDir, 'code.patch'), code.patch);
    await copyTree(src, dst, (from) => !skip.has(from) && from !== out);
    if (await pathExists(path.join(src, 'node_modules')))
      await symlink(path.join(src, 'node_modules'), path.join(dst, 'node_modules'));
  } catch (err) {
    return refuse(`could not copy ${src} to ${dst}: ${errorText(err)}`);
  }
  const root = await realpath(dst);
  const editable = model.editable ?? [];
  let result: Awaited<ReturnType<typeof applyCodePatch>>;
  try {
    result = await applyCodePatch(code.patch, editable, async (rel) => {
      const abs = await insideCopy(root, rel);
      try {
        return await readFile(abs, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    });
    if (!result.ok) return refuse(result.reason);
    for (const [rel, text] of Object.entries(result.files)) {
      const abs = await insideCopy(root, rel);
      await mkdir(path.dirname(abs), { recursive: true });
      // mkdir may have made directories; check again that nothing on the way is a link out of the copy.
      await insideCopy(root, rel);
      await writeFile(abs, text);
    }
  } catch (err) {
    return refuse(errorText(err));
  }
  return { ok: true, dir: dst };
}

/** Removes a scratch copy; never throws. */
export async function removeCodeCopy(dir: string): Promise<void> {
  // The copy can be as large as the model directory; the patch and the log stay in the attempt dir.
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}

/**
 * Copies a directory tree, leaving out what `keep` refuses (the output root may sit inside the model
 * directory, which fs.cp refuses outright). Links are copied as links; files are cloned copy-on-write where
 * the file system can, copied elsewhere.
 */
async function copyTree(src: string, dst: string, keep: (from: string) => boolean): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = path.join(dst, entry.name);
    if (!keep(from)) continue;
    if (entry.isSymbolicLink()) await symlink(await readlink(from), to);
    else if (entry.isDirectory()) await copyTree(from, to, keep);
    else if (entry.isFile()) await copyFile(from, to, constants.COPYFILE_FICLONE);
  }
}

/**
 * The absolute path of `rel` inside `root`, refusing a path that leaves it or passes through a symbolic
 * link (a link in the model directory could otherwise carry a write out of the copy).
 */
async function insideCopy(root: string, rel: string): Promise<string> {
  const abs = path.resolve(root, rel);
  if (!abs.startsWith(`${root}${path.sep}`)) throw new Error(`${rel} is outside the copy of the model`);
  let cur = root;
  for (const part of path.relative(root, abs).split(path.sep)) {
    cur = path.join(cur, part);
    try {
      if ((await lstat(cur)).isSymbolicLink())
        throw new Error(`${rel} goes through a symbolic link (${path.relative(root, cur)})`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw err;
    }
  }
  return abs;
}

export async function pathExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
