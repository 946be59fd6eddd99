import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalProcessRunner } from '../../src/adapters/local/local-process-runner.ts';
import { TerminalChat } from '../../src/adapters/local/terminal-chat.ts';
import { applyCodePatch } from '../../src/app/code-patch.ts';
import { runLocalSession } from '../../src/app/local-session.ts';
import type { HypothesisSource, Proposal, RunJob, RunnerReport } from '../../src/app/ports.ts';
import { loadModelDir, type ModelDir } from '../../src/config/load.ts';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import type { Hypothesis } from '../../src/core/model.ts';
import { openTestStore } from '../helpers/db.ts';

// Code hypotheses in local mode: each attempt runs in a scratch copy of the model directory with the patch
// applied by rea (never by a shell); the model directory stays byte-identical; a patch that does not apply
// or reaches outside `editable` fails its attempt with a clear reason, and the plan goes on without it.

const TOY = path.resolve(import.meta.dirname, '../fixtures/toy-model');

let root: string;
let modelDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'rea-code-'));
  modelDir = path.join(root, 'model');
  await cp(TOY, modelDir, { recursive: true });
  const yml = await readFile(path.join(modelDir, '.rea.yml'), 'utf8');
  await writeFile(path.join(modelDir, '.rea.yml'), `${yml}editable: ["train.mjs", "lib/**/*.mjs"]\n`);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every file under dir with the digest of its bytes (links by their target). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, file);
    if (e.isFile())
      out[rel] = createHash('sha256')
        .update(await readFile(file))
        .digest('hex');
    else if (e.isDirectory()) out[rel] = 'dir';
    else out[rel] = 'other';
  }
  return out;
}

const GAIN_LINE = "if (cfg.optimizer === 'adagrad') gain += 0.01;\n";

async function goodPatch(): Promise<string> {
  const before = await readFile(path.join(modelDir, 'train.mjs'), 'utf8');
  expect(before).toContain(GAIN_LINE);
  const after = before.replace(
    GAIN_LINE,
    `${GAIN_LINE}gain += 0.02;\nconsole.log('code hypothesis: gelu activation, cwd ' + process.cwd());\n`,
  );
  return createTwoFilesPatch('a/train.mjs', 'b/train.mjs', before, after);
}

/** A patch made against a train.mjs that never was: its context does not match the file. */
function stalePatch(): string {
  const before = 'const a = 1;\nconst b = 2;\nconst c = 3;\n';
  const after = 'const a = 1;\nconst b = 20;\nconst c = 3;\n';
  return createTwoFilesPatch('a/train.mjs', 'b/train.mjs', before, after);
}

function code(title: string, patch: string, expectedEffect: number): Omit<Hypothesis, 'id'> {
  return {
    title,
    rationale: `test code hypothesis ${title}`,
    source: 'research',
    agent: 'test',
    kind: 'code',
    overrides: {},
    patch,
    files: ['train.mjs'],
    expectedEffect,
    risk: 'medium',
    evidence: [],
  };
}

class FixedSource implements HypothesisSource {
  readonly name = 'fixed';
  constructor(private readonly hypotheses: Omit<Hypothesis, 'id'>[]) {}
  async propose(): Promise<Proposal> {
    return { hypotheses: this.hypotheses, rejected: [], notes: [] };
  }
}

function makeRunner(m: ModelDir, onReport: (r: RunnerReport) => void): LocalProcessRunner {
  return new LocalProcessRunner({
    dir: m.dir,
    command: m.config.run.command,
    gpus: m.config.run.gpus,
    timeoutMinutes: m.config.run.timeout_minutes,
    maxConcurrent: m.config.budget.max_concurrent_runs,
    // Inside the model directory on purpose: the copy must leave the output root out.
    outputRoot: path.join(m.dir, 'out', 'runs'),
    metricName: m.config.metric.name,
    editable: m.config.editable,
    onReport,
  });
}

async function loadModel(): Promise<ModelDir> {
  const loaded = await loadModelDir(modelDir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return loaded.value;
}

describe('a local plan with code hypotheses', () => {
  it('runs the patched code in a scratch copy, skips a stale patch with its reason, and leaves the model directory as it was', async () => {
    const model = await loadModel();
    const runbooks = (await loadRunbooks({ modelDir })).runbooks;
    const config = (title: string, overrides: Hypothesis['overrides'], e: number) => ({
      ...code(title, '', e),
      kind: 'config' as const,
      overrides,
      patch: undefined,
      files: undefined,
    });
    const source = new FixedSource([
      code('gelu activation', await goodPatch(), 0.02),
      code('stale refactor', stalePatch(), 0.015),
      config('crosses on', { crosses: true }, 0.03),
      config('adagrad', { optimizer: 'adagrad' }, 0.01),
    ]);
    // The output root is created by the runner inside the model dir; everything else must stay as it is.
    const before = await snapshot(modelDir);
    let out = '';
    const { store, cleanup } = await openTestStore();
    const plan = await runLocalSession({
      store,
      model,
      goal: 'reduce NE',
      runbooks,
      sources: [source],
      chat: new TerminalChat({ write: (s: string) => (out += s) }),
      makeRunner: (onReport) => makeRunner(model, onReport),
      reportDir: path.join(root, 'reports'),
      log: pino({ level: 'silent' }),
      actor: { by: 'tester', via: 'cli' },
      approve: async () => true,
      resolveEscalation: async () => 'skip',
      timerEveryMs: 1000,
    }).finally(cleanup);
    expect(plan.status).toBe('completed');
    expect(plan.escalations).toEqual([]);

    const gelu = plan.hypotheses.find((h) => h.title === 'gelu activation')!;
    const stale = plan.hypotheses.find((h) => h.title === 'stale refactor')!;
    const runsOf = (hid: string) =>
      plan.runs.filter((r) => plan.candidates.find((c) => c.id === r.candidateId)!.codeHypothesisId === hid);

    // The stale patch: one attempt, refused before anything ran, skipped by its runbook; the plan went on.
    const staleRuns = runsOf(stale.id);
    expect(staleRuns).toHaveLength(1);
    expect(staleRuns[0]!.status).toBe('failed');
    expect(staleRuns[0]!.attempts).toHaveLength(1);
    const refused = staleRuns[0]!.attempts[0]!;
    expect(refused.conclusion).toBe('startup_failure');
    expect(refused.reason).toBe(
      `rea: the code patch of hypothesis ${stale.id} (stale refactor) was not applied: the patch does not apply to train.mjs: its context differs from the file`,
    );
    expect(refused.runbook?.id).toBe('code-patch-rejected');
    expect(plan.verdicts.find((v) => v.candidateId === staleRuns[0]!.candidateId)?.verdict).toBe(
      'infeasible',
    );

    // The good patch ran in every step it reached, in a copy, and its measured gain carried it to the end.
    const geluRuns = runsOf(gelu.id);
    const geluOk = geluRuns.filter((r) => r.status === 'succeeded');
    expect(geluOk.length).toBeGreaterThan(1);
    // The patch always applied; a gelu run that failed did so for its knobs (the search tries gelu with
    // other settings too, and some diverge).
    for (const r of geluRuns) for (const a of r.attempts) expect(a.conclusion).not.toBe('startup_failure');
    for (const r of geluOk) {
      const attemptDir = path.join(modelDir, 'out', 'runs', plan.id, r.id, `attempt-${r.attempts.length}`);
      const log = await readFile(path.join(attemptDir, 'log.txt'), 'utf8');
      expect(log).toContain(`code hypothesis: gelu activation, cwd ${path.join(attemptDir, 'code')}`);
      expect(await readFile(path.join(attemptDir, 'code.patch'), 'utf8')).toBe(gelu.patch);
      // The copy is removed once the attempt ended; the patch and the log stay.
      await expect(stat(path.join(attemptDir, 'code'))).rejects.toThrow();
    }
    const plainRun = plan.runs.find((r) => r.role === 'baseline')!;
    const plainLog = await readFile(
      path.join(modelDir, 'out', 'runs', plan.id, plainRun.id, 'attempt-1', 'log.txt'),
      'utf8',
    );
    expect(plainLog).not.toContain('code hypothesis');
    const geluVerdict = plan.verdicts.find(
      (v) => v.step === 'validation' && v.candidateId === geluRuns[0]!.candidateId,
    )!;
    expect(geluVerdict.verdict).toBe('pass');
    expect(geluVerdict.relEffect).toBeGreaterThan(0.015);
    // Its measured gain carried it to full fidelity, where the search measured it beside knob moves (whether
    // a gelu configuration or a knob-only one is confirmed in the end depends on the seeds the search drew).
    expect(geluOk.some((r) => r.fidelity === 1)).toBe(true);
    expect(plan.winner).toBeDefined();
    expect(out).toContain('code: gelu activation');

    const after = await snapshot(modelDir);
    for (const k of Object.keys(after)) if (k === 'out' || k.startsWith(`out${path.sep}`)) delete after[k];
    expect(after).toEqual(before);
  }, 120_000);
});

describe('the local runner refuses patches it must not apply', () => {
  async function runOne(patch: string, editable = ['train.mjs', 'lib/**/*.mjs']) {
    const model = await loadModel();
    const reports: RunnerReport[] = [];
    const runner = new LocalProcessRunner({
      ...{
        dir: model.dir,
        command: model.config.run.command,
        gpus: 1,
        timeoutMinutes: 1,
        maxConcurrent: 1,
        outputRoot: path.join(root, 'runs'),
        metricName: 'ne',
      },
      editable,
      onReport: (r) => reports.push(r),
    });
    const job: RunJob = {
      planId: 'p1',
      runId: 'r1',
      attempt: 1,
      overrides: {},
      fidelity: 0.1,
      seed: 1,
      idempotencyKey: 'k1',
      code: { hypothesisId: 'h1', title: 'evil', patch },
    };
    await runner.dispatch(job);
    await runner.drain();
    await runner.shutdown();
    const end = reports.find((r) => r.type !== 'started')!;
    return { end, started: reports.some((r) => r.type === 'started') };
  }

  const newFile = (name: string) =>
    createTwoFilesPatch(name, name, '', 'owned\n').replace(/^--- .*$/m, '--- /dev/null');

  it.each([
    ['a path outside editable', newFile('b/configs/evil.mjs'), 'configs/evil.mjs is outside editable'],
    ['a path that climbs out', newFile('b/../escape.mjs'), 'outside the repository'],
    ['an absolute path', newFile('/tmp/rea-escape.mjs'), 'absolute path'],
    ['git metadata', newFile('b/.git/hooks/pre-commit'), 'git metadata'],
    ['not a diff', '@@ -1 +1 @@\n?what\n', 'not a valid unified diff'],
    ['no file at all', 'just some words\n', 'changes no file'],
  ])('%s', async (_name, patch, reason) => {
    const before = await snapshot(modelDir);
    const { end, started } = await runOne(patch);
    expect(started).toBe(false);
    expect(end).toMatchObject({ type: 'failed', conclusion: 'startup_failure' });
    expect((end as { reason: string }).reason).toMatch(
      /^rea: the code patch of hypothesis h1 \(evil\) was not applied: /,
    );
    expect((end as { reason: string }).reason).toContain(reason);
    expect(await snapshot(modelDir)).toEqual(before);
    await expect(stat(path.join(path.dirname(modelDir), 'escape.mjs'))).rejects.toThrow();
  });

  it('a write through a symbolic link in the model directory', async () => {
    const outside = path.join(root, 'outside');
    await mkdir(outside);
    await symlink(outside, path.join(modelDir, 'lib'));
    const { end } = await runOne(newFile('b/lib/x.mjs'));
    expect((end as { reason: string }).reason).toContain('goes through a symbolic link (lib)');
    expect(await readdir(outside)).toEqual([]);
  });

  it('any code when .rea.yml lists nothing editable', async () => {
    const { end } = await runOne(await goodPatch(), []);
    expect((end as { reason: string }).reason).toContain('lists no editable files');
  });
});

describe('applyCodePatch', () => {
  it('creates and changes files, and refuses deletes, renames and a second copy of a file', async () => {
    const files: Record<string, string> = { 'lib/a.mjs': 'one\ntwo\n' };
    const read = async (f: string) => files[f];
    const change = createTwoFilesPatch('a/lib/a.mjs', 'b/lib/a.mjs', 'one\ntwo\n', 'one\n2\n');
    const create = createTwoFilesPatch('/dev/null', 'b/lib/b.mjs', '', 'new\n');
    expect(await applyCodePatch(change + create, ['lib/**'], read)).toEqual({
      ok: true,
      files: { 'lib/a.mjs': 'one\n2\n', 'lib/b.mjs': 'new\n' },
    });
    const del = createTwoFilesPatch('a/lib/a.mjs', '/dev/null', 'one\ntwo\n', '');
    expect(await applyCodePatch(del, ['lib/**'], read)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('deleting files is not supported'),
    });
    const rename = createTwoFilesPatch('a/lib/a.mjs', 'b/lib/c.mjs', 'one\ntwo\n', 'one\n');
    expect(await applyCodePatch(rename, ['lib/**'], read)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('renaming is not supported'),
    });
    expect(await applyCodePatch(change + change, ['lib/**'], read)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('twice'),
    });
    const existing = createTwoFilesPatch('/dev/null', 'b/lib/a.mjs', '', 'x\n');
    expect(await applyCodePatch(existing, ['lib/**'], read)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('already exists'),
    });
  });
});
