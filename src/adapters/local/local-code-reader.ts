import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { minimatch } from 'minimatch';
import type { CodeReader } from '../../app/ports.ts';

// A model directory on this machine, read-only: what the research agent sees of the code in local mode.

/** Directories that are never model code (dependencies, version control, rea's own data). */
const SKIP = new Set(['node_modules', '.git', '.rea']);

export class LocalCodeReader implements CodeReader {
  readonly label: string;
  constructor(private readonly dir: string) {
    this.label = dir;
  }

  async list(globs: readonly string[]): Promise<string[]> {
    if (globs.length === 0) return [];
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(path.join(this.dir, rel), { withFileTypes: true });
      for (const e of entries) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!SKIP.has(e.name)) await walk(p);
        } else if (e.isFile() && globs.some((g) => minimatch(p, g))) {
          out.push(p);
        }
      }
    };
    await walk('');
    return out.sort();
  }

  async read(file: string): Promise<string | undefined> {
    const abs = path.resolve(this.dir, file);
    // Only files inside the model directory: a path from .rea.yml must not read the rest of the disk.
    if (!abs.startsWith(path.resolve(this.dir) + path.sep)) return undefined;
    try {
      return await readFile(abs, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') return undefined;
      throw err;
    }
  }
}
