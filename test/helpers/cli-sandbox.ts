import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openTestStore } from './db.ts';

// A place for a `rea` child process to keep its data: a temp directory, and, when the suite runs against a
// PostgreSQL server, a fresh database of its own (the child reaches it through DATABASE_URL).

export interface CliSandbox {
  dir: string;
  /** The environment for a child: REA_DATA_DIR under dir, and DATABASE_URL only when the suite has one. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  dbUrl?: string;
  cleanup(): Promise<void>;
}

export async function cliSandbox(prefix: string): Promise<CliSandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  let dbUrl: string | undefined;
  let cleanupDb: (() => Promise<void>) | undefined;
  if (process.env.DATABASE_URL) {
    const t = await openTestStore();
    dbUrl = t.url;
    await t.store.close();
    cleanupDb = t.cleanup;
  }
  return {
    dir,
    ...(dbUrl ? { dbUrl } : {}),
    env: (extra = {}) => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      // A child never calls a real LLM API because of the developer's shell; tests that want one pass it.
      delete env.ANTHROPIC_API_KEY;
      delete env.ANTHROPIC_BASE_URL;
      Object.assign(env, { REA_DATA_DIR: path.join(dir, 'data') }, extra);
      delete env.DATABASE_URL;
      if (dbUrl) env.DATABASE_URL = dbUrl;
      return env;
    },
    cleanup: async () => {
      await cleanupDb?.();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
