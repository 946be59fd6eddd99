import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/app/ports.ts';
import type { PhaseName } from '../../src/core/model.ts';
import { openStore } from '../../src/db/store.ts';
import { type CliSandbox, cliSandbox } from '../helpers/cli-sandbox.ts';

// `rea run --local` killed with SIGKILL in the middle of each phase and started again: the plan completes,
// nothing is lost, and no attempt is executed twice (a lost attempt comes back as a counted retry).

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOY = path.join(ROOT, 'test/fixtures/toy-model');

let box: CliSandbox;
beforeAll(async () => {
  box = await cliSandbox('rea-kill-');
});
afterAll(() => box.cleanup());

function start(): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const env = box.env({ TOY_LAUNCH_LOG: path.join(box.dir, 'launches.txt'), TOY_SLEEP_MS: '150' });
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/rea.mjs'), 'run', '--local', '--dir', TOY, '--yes'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => lines.push(`stderr: ${d.toString()}`));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

/** Waits until the phase has made progress but is not finished, then kills rea (not its jobs) with SIGKILL. */
async function killDuring(phase: PhaseName): Promise<boolean> {
  const p = start();
  const re = new RegExp(`^\\[${phase}[^\\]]*\\] (\\d+)/(\\d+) runs done`);
  const deadline = Date.now() + 60_000;
  let firstDone: number | undefined;
  while (Date.now() < deadline) {
    const hit = p.lines
      .map((l) => re.exec(l))
      .filter((m) => m !== null)
      .pop();
    if (hit) {
      const done = Number(hit[1]);
      firstDone ??= done;
      if (done >= firstDone + 2 && done < Number(hit[2])) {
        p.child.kill('SIGKILL');
        await p.exited;
        return true;
      }
    }
    const exitedEarly = await Promise.race([
      p.exited.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 25)),
    ]);
    if (exitedEarly) return false;
  }
  p.child.kill('SIGKILL');
  throw new Error(`never saw ${phase} progress:\n${p.lines.join('\n')}`);
}

async function openSame(): Promise<Store> {
  return openStore({ ...(box.dbUrl ? { databaseUrl: box.dbUrl } : {}), dataDir: path.join(box.dir, 'data') });
}

describe('kill and resume', () => {
  it('completes after SIGKILL in the middle of each phase, with no attempt executed twice', async () => {
    const killed: PhaseName[] = [];
    for (const phase of ['validation', 'combination', 'exploitation'] as const) {
      if (await killDuring(phase)) killed.push(phase);
    }
    expect(killed).toEqual(['validation', 'combination', 'exploitation']);
    const last = start();
    const code = await last.exited;
    expect(code, last.lines.join('\n')).toBe(0);
    expect(last.lines.join('\n')).toContain('Resuming plan');

    const store = await openSame();
    try {
      const [summary, ...others] = await store.listPlans({ model: 'toy-ranker' });
      expect(others).toHaveLength(0);
      const plan = (await store.getPlan(summary!.id))!;
      expect(plan.status).toBe('completed');
      expect(plan.winner).toBeDefined();
      for (const r of plan.runs) expect(['succeeded', 'failed']).toContain(r.status);
      const launches = (await readFile(path.join(box.dir, 'launches.txt'), 'utf8')).trim().split('\n');
      // Every launch is a distinct attempt directory: no attempt ran twice.
      expect(new Set(launches).size).toBe(launches.length);
      for (const r of plan.runs) {
        const mine = launches.filter((l) => l.includes(`${path.sep}${r.id}${path.sep}attempt-`));
        expect(mine.length).toBeLessThanOrEqual(r.attempts.length);
      }
      const lost = plan.runs.flatMap((r) => r.attempts).filter((a) => a.conclusion === 'runner_lost');
      expect(lost.length).toBeGreaterThan(0);
      expect(lost.every((a) => a.runbook?.id === 'runner-lost')).toBe(true);
    } finally {
      await store.close();
    }
  }, 240_000);
});
