import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_RUNBOOK_DIR, loadRunbooks, parseRunbook } from '../../src/config/runbooks.ts';

const valid = [
  '---',
  'id: nccl-timeout',
  'title: NCCL timeout',
  'priority: 5',
  'match:',
  "  log: ['NCCL.*timeout']",
  'action: retry',
  'max_attempts: 2',
  'on_exhausted: skip',
  '---',
  '',
  'Explains the failure.',
].join('\n');

function withFrontMatter(lines: string[], body = 'Explains the failure.'): string {
  return ['---', ...lines, '---', body].join('\n');
}

function problemsOf(text: string, source = 'x.md'): string[] {
  const r = parseRunbook(text, source);
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

describe('parseRunbook', () => {
  it('maps snake_case front matter to a Runbook', () => {
    const r = parseRunbook(valid, '.rea/runbooks/nccl-timeout.md');
    expect(r).toEqual({
      ok: true,
      runbook: {
        id: 'nccl-timeout',
        title: 'NCCL timeout',
        priority: 5,
        match: { log: ['NCCL.*timeout'] },
        action: { type: 'retry' },
        maxAttempts: 2,
        onExhausted: 'skip',
        body: 'Explains the failure.',
        source: '.rea/runbooks/nccl-timeout.md',
      },
    });
  });

  it('reads the long action forms and defaults', () => {
    const r = parseRunbook(
      withFrontMatter([
        'id: a',
        'title: A',
        'priority: 1',
        'match: { conclusions: [failure, timed_out], metric_non_finite: true }',
        'action: { type: retry_with_overrides, overrides: { batch_size: { scale: 0.5 }, optimizer: { set: sgd } } }',
      ]),
      'a.md',
    );
    expect(r.ok && r.runbook).toMatchObject({
      match: { conclusions: ['failure', 'timed_out'], metricNonFinite: true },
      action: {
        type: 'retry_with_overrides',
        overrides: { batch_size: { scale: 0.5 }, optimizer: { set: 'sgd' } },
      },
      maxAttempts: 1,
      onExhausted: 'pause_and_escalate',
    });
    const rc = parseRunbook(
      withFrontMatter([
        'id: b',
        'title: B',
        'priority: 1',
        'match: { conclusions: [failure] }',
        'action: { type: reduce_concurrency, to: 2 }',
      ]),
      'b.md',
    );
    expect(rc.ok && rc.runbook.action).toEqual({ type: 'reduce_concurrency', to: 2 });
  });

  it('reports every problem with the file and the field path', () => {
    const problems = problemsOf(
      withFrontMatter([
        'id: Bad Id',
        'priority: high',
        'match: { conclusions: [exploded], log: [] }',
        'action: reboot',
        'max_attempts: 0',
        'on_exhausted: retry',
        'max_attempt: 3',
      ]),
      'runbooks/bad.md',
    );
    expect(problems).toEqual([
      'runbooks/bad.md: id: must be lower-case letters, digits, . _ - (e.g. gpu-oom)',
      'runbooks/bad.md: title: is required',
      'runbooks/bad.md: priority: must be a number (got string "high")',
      'runbooks/bad.md: match.conclusions[0]: must be one of "failure", "timed_out", "cancelled", "runner_lost", "startup_failure", "metrics_invalid"',
      'runbooks/bad.md: match.log: must list at least one pattern',
      'runbooks/bad.md: action.type: must be one of retry, retry_with_overrides, skip, reduce_concurrency, pause_and_escalate',
      'runbooks/bad.md: max_attempts: must be at least 1',
      'runbooks/bad.md: on_exhausted: must be one of "skip", "pause_and_escalate"',
      "runbooks/bad.md: front matter: unknown key 'max_attempt'",
    ]);
    for (const p of problems) expect(p).not.toMatch(/\n|\s+at \S+ \(/);
  });

  it('rejects a regular expression that does not compile', () => {
    const problems = problemsOf(
      withFrontMatter([
        'id: a',
        'title: A',
        'priority: 1',
        "match: { log: ['ok', 'CUDA (out of memory'] }",
        'action: retry',
      ]),
    );
    expect(problems).toEqual([
      'x.md: match.log[1]: is not a valid regular expression: /CUDA (out of memory/i: Unterminated group',
    ]);
  });

  it('explains bad overrides and a match without criteria', () => {
    expect(
      problemsOf(
        withFrontMatter(['id: a', 'title: A', 'priority: 1', 'match: {}', 'action: retry_with_overrides']),
      ),
    ).toEqual([
      'x.md: match: must give at least one of conclusions, log, metric_non_finite: true',
      'x.md: action.overrides: is required',
    ]);
    expect(
      problemsOf(
        withFrontMatter([
          'id: a',
          'title: A',
          'priority: 1',
          'match: { metric_non_finite: true }',
          'action: { type: retry_with_overrides, overrides: { batch_size: { scale: 0 }, lr: { halve: true } } }',
        ]),
      ),
    ).toEqual([
      'x.md: action.overrides.batch_size.scale: must be greater than 0',
      'x.md: action.overrides.lr: must be { scale: <number> } or { set: <value> }',
    ]);
  });

  it('needs front matter, valid YAML and a body', () => {
    expect(problemsOf('# Just markdown')).toEqual([
      'x.md: must start with YAML front matter between two --- lines',
    ]);
    expect(problemsOf('---\nid: a\n')).toEqual(['x.md: front matter is not closed (no second --- line)']);
    expect(problemsOf('---\nid: [a\n---\nbody')[0]).toMatch(/^x\.md: front matter is not valid YAML: /);
    expect(problemsOf(valid.replace('Explains the failure.', '  \n'))).toEqual([
      'x.md: body: must explain the failure to people (the Markdown after the front matter is empty)',
    ]);
  });
});

describe('loadRunbooks', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rea-runbooks-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('loads the built-ins, each with a body for people', async () => {
    const { runbooks, problems } = await loadRunbooks();
    expect(problems).toEqual([]);
    expect(runbooks.map((r) => r.id)).toEqual([
      'gpu-oom',
      'loss-divergence',
      'data-not-found',
      'code-patch-rejected',
      'startup-failure',
      'timeout',
      'metrics-invalid',
      'runner-lost',
    ]);
    for (const rb of runbooks) {
      expect(rb.body).toMatch(/What rea does/);
      expect(rb.source).toBe(path.join('runbooks', `${rb.id}.md`));
    }
    expect(await readFile(path.join(BUILTIN_RUNBOOK_DIR, 'gpu-oom.md'), 'utf8')).toContain('id: gpu-oom');
  });

  it('is fine without a .rea/runbooks directory in the model repo', async () => {
    const { runbooks, problems } = await loadRunbooks({ modelDir: root });
    expect(problems).toEqual([]);
    expect(runbooks).toHaveLength(8);
  });

  it('reports invalid model runbooks and keeps the valid ones', async () => {
    const dir = path.join(root, '.rea', 'runbooks');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'a-broken.md'),
      withFrontMatter([
        'id: timeout',
        'title: T',
        'priority: x',
        'match: { conclusions: [timed_out] }',
        'action: skip',
      ]),
    );
    await writeFile(path.join(dir, 'b-nccl.md'), valid);
    await writeFile(path.join(dir, 'c-again.md'), valid);
    await writeFile(path.join(dir, 'notes.txt'), 'not a runbook');
    const { runbooks, problems } = await loadRunbooks({ modelDir: root });
    expect(problems).toEqual([
      `${path.join('.rea', 'runbooks', 'a-broken.md')}: priority: must be a number (got string "x")`,
      `${path.join('.rea', 'runbooks', 'c-again.md')}: id: 'nccl-timeout' is already used by ${path.join('.rea', 'runbooks', 'b-nccl.md')}`,
    ]);
    // The broken file did not replace the built-in timeout runbook.
    expect(runbooks.find((r) => r.id === 'timeout')?.source).toBe(path.join('runbooks', 'timeout.md'));
    expect(runbooks.map((r) => r.id)).toContain('nccl-timeout');
  });

  it('reports a missing or unreadable built-in directory or file', async () => {
    const missing = await loadRunbooks({ builtinDir: path.join(root, 'nope') });
    expect(missing.problems).toEqual([
      `${path.join(root, 'nope')}: cannot read the runbook directory (ENOENT)`,
    ]);
    const dir = path.join(root, 'builtins');
    await mkdir(dir);
    await writeFile(path.join(dir, 'x.md'), valid);
    await chmod(path.join(dir, 'x.md'), 0o000);
    const unreadable = await loadRunbooks({ builtinDir: dir });
    if (process.getuid?.() !== 0) {
      expect(unreadable.problems).toEqual([`${path.join(dir, 'x.md')}: cannot be read (EACCES)`]);
    }
  });
});
