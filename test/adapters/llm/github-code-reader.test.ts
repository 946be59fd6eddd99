import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Octokit } from '../../../src/adapters/github/github-code-host.ts';
import { GithubCodeReader } from '../../../src/adapters/github/github-code-reader.ts';
import { LocalCodeReader } from '../../../src/adapters/local/local-code-reader.ts';
import {
  type GithubEmulator,
  startGithubEmulator,
  UnthrottledProbotOctokit,
} from '../../emulators/github/index.ts';
import { EXAMPLE } from './helpers.ts';

// What the research agent can read of a model's code: a repository at one commit through the GitHub
// emulator (trees and contents APIs, checked against GitHub's OpenAPI description), or a local directory.

let gh: GithubEmulator;
beforeAll(async () => {
  gh = await startGithubEmulator({ appId: 4242, webhookSecret: 's', deliverWebhooks: false });
});
afterAll(() => gh.close());

describe('GithubCodeReader', () => {
  it('lists files matching the editable globs at the pinned commit and reads them', async () => {
    const repo = gh.addRepo({
      owner: 'acme',
      repo: 'ranker',
      files: {
        '.rea.yml': 'model: ranker\n',
        'src/model.ts': 'export const depth = 2;\n',
        'src/nn/layers.ts': 'export {};\n',
        'src/model.py': 'depth = 2\n',
        'train.ts': 'run();\n',
      },
    });
    const octokit = new UnthrottledProbotOctokit({
      auth: { appId: 4242, privateKey: gh.privateKey, installationId: repo.installationId },
      baseUrl: gh.apiUrl,
    }) as unknown as Octokit;
    const reader = new GithubCodeReader(octokit, { owner: 'acme', repo: 'ranker' }, repo.headSha);
    expect(reader.label).toBe(`acme/ranker@${repo.headSha.slice(0, 7)}`);
    expect(await reader.list(['src/**/*.ts'])).toEqual(['src/model.ts', 'src/nn/layers.ts']);
    expect(await reader.list([])).toEqual([]);
    expect(await reader.read('src/model.ts')).toBe('export const depth = 2;\n');
    expect(await reader.read('.rea.yml')).toBe('model: ranker\n');
    expect(await reader.read('missing.ts')).toBeUndefined();
    expect(gh.violations).toEqual([]);
  });
});

describe('LocalCodeReader', () => {
  it('lists and reads inside the model directory only', async () => {
    const reader = new LocalCodeReader(EXAMPLE);
    expect(await reader.list(['src/**/*.ts'])).toEqual([
      'src/config.ts',
      'src/data.ts',
      'src/model.ts',
      'src/rng.ts',
    ]);
    expect(await reader.read('configs/baseline.yaml')).toMatch(/learning_rate: 0.02/);
    expect(await reader.read('../../package.json')).toBeUndefined();
    expect(await reader.read('src')).toBeUndefined();
    expect(await reader.read('nope.ts')).toBeUndefined();
  });
});
