import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliSandbox, cliSandbox } from '../helpers/cli-sandbox.ts';

// The acceptance run of the foundation: `rea demo` twice on the real example model. The first plan goes
// through all three phases with an OOM and a divergence handled by runbooks and confirms an improvement
// with an interval; the second starts from the first one's insights and does at least as well for less.

const ROOT = path.resolve(import.meta.dirname, '../..');
let box: CliSandbox;
beforeAll(async () => {
  box = await cliSandbox('rea-demo-');
});
afterAll(() => box.cleanup());

function demo(): Promise<{ code: number | null; out: string }> {
  return rea('demo');
}

function rea(...args: string[]): Promise<{ code: number | null; out: string }> {
  const env = box.env({ REA_DATA_DIR: path.join(box.dir, '.rea') });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/rea.mjs'), ...args], { cwd: box.dir, env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

function result(out: string): { effect: number; gpuHours: number; fullRuns: number } {
  const m =
    /ne improved by \+([\d.]+)% \(95% interval \[\+[\d.]+%, \+[\d.]+%\], 3 seeds at full fidelity\); ([\d.]+) GPU-hours spent of [\d.]+ approved \(([\d.]+) full-run equivalents\)/.exec(
      out,
    );
  if (!m) throw new Error(`no result line in:\n${out.slice(-3000)}`);
  return { effect: Number(m[1]), gpuHours: Number(m[2]), fullRuns: Number(m[3]) };
}

/** The second plan's id, once the demo ran twice (the insights acceptance below reuses this sandbox). */
let secondPlan: string | undefined;

describe('rea demo', () => {
  it('runs the whole loop, and a second run learns from the first', async () => {
    const first = await demo();
    expect(first.code, first.out.slice(-3000)).toBe(0);
    expect(first.out).toContain(
      '| phase | runs (at most) | fidelity | seeds | GPU-h p50 / p90 | USD p50 / p90 |',
    );
    expect(first.out).toMatch(/approved\s+Approved by rea demo \(auto\)/);
    expect(first.out).toMatch(/decision\s+Validation: .*\n/);
    expect(first.out).toMatch(/decision\s+Combination: /);
    expect(first.out).toMatch(/decision\s+Confirmation: /);
    expect(first.out).toMatch(/runbook\s+.*CUDA out of memory.*retrying with batch_size 4096 -> 1024/);
    expect(first.out).toMatch(/runbook\s+.*loss is (nan|inf).*skipping this configuration as infeasible/);
    const r1 = result(first.out);
    expect(r1.effect).toBeGreaterThan(1);
    const reports = await readdir(path.join(box.dir, '.rea', 'reports'));
    expect(reports).toHaveLength(1);

    const second = await demo();
    expect(second.code, second.out.slice(-3000)).toBe(0);
    expect(second.out).toMatch(/\| insights \|/);
    const r2 = result(second.out);
    expect(r2.effect).toBeGreaterThanOrEqual(r1.effect);
    expect(r2.gpuHours).toBeGreaterThan(0);
    // The budget promise (issue 21): each plan finishes within the p90 it asked for and was approved at,
    // without pausing for more or raising its own budget. Within it, a plan keeps searching until it has
    // a winner, so the second plan is not held to spending less than the first, only to finding as much.
    for (const run of [first, second]) {
      expect(run.out).not.toMatch(/^(paused|budget)\s/m);
      const asked = /Approved by rea demo \(auto\) with a budget of ([\d.]+) GPU-hours/.exec(run.out);
      expect(asked).not.toBeNull();
      expect(result(run.out).gpuHours).toBeLessThanOrEqual(Number(asked![1]));
    }
    expect(second.out).toContain('Earlier plans of this model:');
    secondPlan = /Plan (\S+) completed:/.exec(second.out)?.[1];
  }, 600_000);

  // Issue 6 acceptance, on the database the two runs above filled (running demo twice more would double
  // the suite's longest test).
  it('then `rea insights` lists the wins with intervals and the failures with reasons, and plan 2 cites them', async () => {
    expect(secondPlan, 'the demo test above must pass first').toBeDefined();
    const dir = path.join(ROOT, 'examples/ctr-model');
    const all = await rea('insights', '--dir', dir, '--all');
    expect(all.code, all.out).toBe(0);
    const wins = /Top wins[^\n]*\n([\s\S]*?)\n\nFailed/.exec(all.out)?.[1] ?? '';
    // The confirmed winner of a plan: its effect with the interval, at full fidelity on its 3 confirmation
    // seeds (pooled with the search's own full-fidelity run of the same configuration, when it had one).
    expect(wins).toMatch(/^ {2}\S.*: \+[\d.]+% \[\+[\d.]+%, \+[\d.]+%\]; fidelity 1, ([3-9]|\d{2,}) runs/m);
    const failed = /Failed \(and why\):\n([\s\S]*?)\n\n/.exec(all.out)?.[1] ?? '';
    // The demo's OOM and divergence (see the runbook lines above), each with its reason.
    expect(failed).toMatch(/^ {2}batch_size 512 -> 4096: infeasible: GPU out of memory/m);
    expect(failed).toMatch(/^ {2}learning_rate 0.02 -> [\d.]+: infeasible: .*loss is (nan|inf)/m);

    const total = (out: string) => {
      const m = /: (\d+) wins?, (\d+) failed, (\d+) without measurable effect/.exec(out);
      return m ? Number(m[1]) + Number(m[2]) + Number(m[3]) : Number.NaN;
    };
    const lr = await rea('insights', '--dir', dir, 'learning', 'rate');
    expect(lr.out).toContain('matching "learning rate"');
    expect(total(lr.out)).toBeGreaterThan(0);
    expect(total(lr.out)).toBeLessThan(total(all.out));
    expect(lr.out).toMatch(/^ {2}learning_rate 0.02 -> /m);
    const bits = JSON.parse((await rea('insights', '--dir', dir, '--json', 'hash_bits')).out);
    const changes = [...bits.wins, ...bits.failed, ...bits.nulls].map((i: { change: string }) => i.change);
    expect(changes.length).toBeGreaterThan(0);
    for (const c of changes) expect(c).toContain('hash_bits=');

    // The second plan's hypotheses from the insights name the insight they came from.
    const plan = JSON.parse((await rea('status', secondPlan!, '--json')).out);
    const cited = plan.hypotheses.filter((h: { source: string }) => h.source === 'insights');
    expect(cited.length).toBeGreaterThan(0);
    for (const h of cited)
      expect(h.evidence[0]).toMatch(/insight ".+" \(win at fidelity [\d.]+\): [+-][\d.]+% \[/);
    for (const h of cited) expect(h.rationale).toMatch(/insight ".+"/);
    // ... and that insight is one `rea insights` lists as a win (read from --json: the text view shortens
    // long titles of many-knob changes).
    const view = JSON.parse((await rea('insights', '--dir', dir, '--json')).out);
    const winTitles = view.wins.map((w: { title: string }) => w.title);
    for (const h of cited.filter((x: { title: string }) => x.title.includes('a confirmed win'))) {
      const title = /^insight "(.+?)"/.exec(h.evidence[0])![1]!;
      expect(winTitles).toContain(title);
    }
  }, 120_000);
});
