import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The real CLI, spawned as a user would run it, from the project root.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function rea(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['bin/rea.mjs', ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const logs = 'test/fixtures/logs';

describe.concurrent('rea runbooks test', () => {
  it('finds the OOM runbook, shows why and what rea would do', async () => {
    const { code, stdout, stderr } = await rea(['runbooks', 'test', `${logs}/oom.txt`]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('matched: gpu-oom: GPU out of memory (priority 10, runbooks/gpu-oom.md)');
    expect(stdout).toContain('log pattern /CUDA out of memory/ matched line 12:');
    expect(stdout).toContain('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.');
    expect(stdout).toContain(
      'action: retry with batch_size x0.5, up to 3 attempts in all; then skip the configuration as infeasible',
    );
  });

  it('uses the model’s knobs and baseline with --dir', async () => {
    const { code, stdout } = await rea([
      'runbooks',
      'test',
      `${logs}/oom.txt`,
      '--dir',
      'test/fixtures/model',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      'after a first failed attempt of ctr-ranker: GPU out of memory: retrying with batch_size 4096 -> 1024 (attempt 2 of 3).',
    );
  });

  it('finds the divergence runbook', async () => {
    const { code, stdout } = await rea(['runbooks', 'test', `${logs}/divergence.txt`]);
    expect(code).toBe(0);
    expect(stdout).toContain('matched: loss-divergence: Loss divergence (NaN or inf)');
    expect(stdout).toContain('log pattern /FloatingPointError/ matched line 7:');
    expect(stdout).toContain('FloatingPointError: loss is nan at step 300');
    expect(stdout).toContain('action: skip the configuration as infeasible');
  });

  it('says clearly when nothing matches, and exits 0', async () => {
    const { code, stdout } = await rea(['runbooks', 'test', `${logs}/unmatched.txt`]);
    expect(code).toBe(0);
    expect(stdout).toContain('no runbook matches this failure.');
    expect(stdout).toContain('rea would pause the plan and escalate to a person');
  });

  it('prints JSON, honouring --conclusion', async () => {
    const { code, stdout } = await rea([
      'runbooks',
      'test',
      `${logs}/unmatched.txt`,
      '--conclusion',
      'timed_out',
      '--dir',
      'test/fixtures/model',
      '--json',
    ]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({
      matched: true,
      conclusion: 'timed_out',
      runbook: { id: 'timeout' },
      reasons: [{ kind: 'conclusion', conclusion: 'timed_out' }],
      model: 'ctr-ranker',
      decision: { type: 'retry', note: 'Timeout: retrying unchanged (attempt 2 of 2).' },
    });
  });

  it('exits 1 for a log it cannot read or an unknown conclusion', async () => {
    const missing = await rea(['runbooks', 'test', `${logs}/no-such-log.txt`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read test/fixtures/logs/no-such-log.txt: ENOENT');
    const bad = await rea(['runbooks', 'test', `${logs}/oom.txt`, '--conclusion', 'exploded']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('exploded');
  });
});

describe.concurrent('rea runbooks with a model repo’s runbooks', () => {
  let modelDir: string;

  beforeAll(async () => {
    modelDir = await mkdtemp(path.join(tmpdir(), 'rea-cli-runbooks-'));
    await mkdir(path.join(modelDir, '.rea', 'runbooks'), { recursive: true });
    await writeFile(
      path.join(modelDir, '.rea', 'runbooks', 'broken.md'),
      '---\nid: broken\ntitle: Broken\npriority: 1\nmatch: { log: ["(oops"] }\naction: retry\n---\nbody\n',
    );
  });

  afterAll(async () => {
    await rm(modelDir, { recursive: true, force: true });
  });

  it('lists the runbooks', async () => {
    const { code, stdout } = await rea(['runbooks', 'list']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ 10 {2}gpu-oom +GPU out of memory {2}\(runbooks\/gpu-oom\.md\)$/m);
    expect(stdout).toContain(
      'does:    retry unchanged, up to 3 attempts in all; then pause and ask a person',
    );
  });

  it('exits 1 and names the file and field when a runbook is invalid', async () => {
    for (const args of [
      ['runbooks', 'list', '--dir', modelDir],
      ['runbooks', 'test', `${logs}/oom.txt`, '--dir', modelDir],
    ]) {
      const { code, stderr } = await rea(args);
      expect(code).toBe(1);
      expect(stderr).toContain(
        `${path.join('.rea', 'runbooks', 'broken.md')}: match.log[0]: is not a valid regular expression`,
      );
      expect(stderr).not.toMatch(/\s+at \S+ \(/);
    }
  });
});
