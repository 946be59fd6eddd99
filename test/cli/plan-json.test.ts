import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// `rea plan --json` is for scripts: its shape is a contract.

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('rea plan --json', () => {
  it('prints hypotheses with provenance, rejected proposals and the phase costs, and stores nothing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rea-plan-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, REA_DATA_DIR: dir };
      delete env.DATABASE_URL;
      const r = spawnSync(
        process.execPath,
        [
          path.join(ROOT, 'bin/rea.mjs'),
          'plan',
          '--dir',
          path.join(ROOT, 'test/fixtures/toy-model'),
          '--json',
        ],
        { env, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout);
      expect(plan.hypotheses.length).toBeGreaterThan(3);
      for (const h of plan.hypotheses) {
        expect(h).toEqual(
          expect.objectContaining({
            title: expect.any(String),
            source: 'research',
            kind: 'config',
            overrides: expect.any(Object),
          }),
        );
      }
      expect(plan.phases.map((p: { name: string }) => p.name)).toEqual([
        'validation',
        'combination',
        'exploitation',
      ]);
      for (const p of plan.phases) {
        expect(p).toEqual(
          expect.objectContaining({
            runs: expect.any(Number),
            gpu_hours_p50: expect.any(Number),
            gpu_hours_p90: expect.any(Number),
            usd_p50: expect.any(Number),
            usd_p90: expect.any(Number),
          }),
        );
        expect(p.gpu_hours_p90).toBeGreaterThanOrEqual(p.gpu_hours_p50);
      }
      expect(Array.isArray(plan.rejected)).toBe(true);
      const status = spawnSync(process.execPath, [path.join(ROOT, 'bin/rea.mjs'), 'status', '--json'], {
        env,
        encoding: 'utf8',
      });
      expect(JSON.parse(status.stdout)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers an unknown command with usage and a non-zero exit', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/rea.mjs'), 'frobnicate'], {
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
