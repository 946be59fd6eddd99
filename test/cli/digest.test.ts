import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { synthPlan, synthRun } from '../../src/app/digest-synth.ts';
import { weekContaining } from '../../src/core/digest.ts';
import { openStore } from '../../src/db/store.ts';
import { type CliSandbox, cliSandbox } from '../helpers/cli-sandbox.ts';

// `rea digest --dir DIR` as a user runs it: the digest of the model's local plans, from the local database.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL_DIR = path.join(ROOT, 'test/fixtures/toy-model');

function rea(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['bin/rea.mjs', ...args], { cwd: ROOT, env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('rea digest --dir', () => {
  let box: CliSandbox;
  beforeEach(async () => {
    box = await cliSandbox('rea-digest-');
  });
  afterEach(() => box.cleanup());

  it("prints this week's digest of the model's plans, other models left out", async () => {
    // The CLI reads the real clock: the plans are placed at the start of the current week.
    const week = weekContaining(Date.now(), 'UTC');
    const at = new Date(Date.parse(week.start) + 60_000).toISOString();
    const env = box.env();
    const store = await openStore({
      ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
      dataDir: env.REA_DATA_DIR!,
    });
    const plan = (id: string, model: string, status: 'completed' | 'running', winner?: number) =>
      synthPlan({
        id,
        channel: 'C0EXPERIMENTS',
        model,
        goal: `improve ${model}`,
        status,
        createdAt: at,
        updatedAt: at,
        runs: [synthRun('r1', at, 2, true)],
        ...(winner ? { winner } : {}),
      });
    try {
      await store.transaction(async (tx) => {
        await tx.savePlan(plan('toy-ranker-aaaaaa', 'toy-ranker', 'completed', 0.04));
        await tx.savePlan(plan('toy-ranker-bbbbbb', 'toy-ranker', 'running'));
        await tx.savePlan(plan('other-cccccc', 'other-model', 'running'));
      });
    } finally {
      await store.close();
    }

    const out = await rea(['digest', '--dir', MODEL_DIR], env);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`# Weekly digest ${week.key}`);
    expect(out.stdout).toContain('so far: toy-ranker');
    expect(out.stdout).toContain('2 plans · 1 win');
    expect(out.stdout).toContain(
      'toy-ranker, plan toy-ranker-aaaaaa: learning_rate 0.03 -> 0.09 improves ne by +4.00%',
    );
    expect(out.stdout).toContain('toy-ranker, plan toy-ranker-bbbbbb: running');
    expect(out.stdout).not.toContain('other-cccccc');
    // Two plans, each 0.5 + 2 GPU-hours at $2.50: $12.50 over 4 points.
    expect(out.stdout).toContain('$3.13 per 1% gained');

    const json = await rea(['digest', '--dir', MODEL_DIR, '--json', '--last'], env);
    expect(json.code).toBe(0);
    const d = JSON.parse(json.stdout);
    expect(d.partial).toBe(false);
    expect(d.plansInWeek).toBe(0);
    expect(d.series).toHaveLength(8);
  });

  it('says which time zone is wrong', async () => {
    const out = await rea(['digest', '--dir', MODEL_DIR, '--tz', 'Mars/Olympus'], box.env());
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("rea: 'Mars/Olympus' is not a time zone");
  });
});
