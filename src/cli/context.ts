import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { makeLogger } from '../app/logger.ts';
import type { Store } from '../app/ports.ts';
import { loadModelDir, type ModelDir } from '../config/load.ts';
import { loadRunbooks } from '../config/runbooks.ts';
import type { Actor, Runbook } from '../core/model.ts';
import { openStore } from '../db/store.ts';

// What every command that touches plans needs: the data directory, the store, the logger.

export class UsageError extends Error {
  readonly code = 'usage';
}

export function dataDir(): string {
  return path.resolve(process.env.REA_DATA_DIR ?? '.rea');
}

export interface CliContext {
  store: Store;
  log: Logger;
  dataDir: string;
  close(): Promise<void>;
}

export async function openContext(): Promise<CliContext> {
  const dir = dataDir();
  const log = makeLogger();
  const store = await openStore({
    ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
    dataDir: dir,
  });
  return { store, log, dataDir: dir, close: () => store.close() };
}

/** Loads a model directory or exits with every problem listed (never a stack trace). */
export async function loadModelOrExit(dir: string): Promise<ModelDir> {
  const loaded = await loadModelDir(dir);
  if (loaded.ok) return loaded.value;
  process.stderr.write(`.rea.yml in ${dir} is not valid:\n`);
  for (const p of loaded.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
  process.exit(1);
}

export async function loadRunbooksOrExit(modelDir: string): Promise<Runbook[]> {
  const { runbooks, problems } = await loadRunbooks({ modelDir });
  if (problems.length === 0) return runbooks;
  process.stderr.write('runbooks are not valid:\n');
  for (const p of problems) process.stderr.write(`  ${p}\n`);
  process.exit(1);
}

export function cliActor(): Actor {
  let user = 'local user';
  try {
    user = os.userInfo().username;
  } catch {
    // Some containers have no passwd entry for the uid; the default name will do.
  }
  return { by: user, via: 'cli' };
}

export function parsePositive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number (got '${value}')`);
  return n;
}
