import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createNodeMiddleware, createProbot, type ProbotOctokit } from 'probot';
import { type GithubAppDeps, githubApp } from '../adapters/github/app.ts';
import type { Octokit } from '../adapters/github/github-code-host.ts';
import { makeGithubPerformer } from '../adapters/github/github-effects.ts';
import { GithubInstallations } from '../adapters/github/github-repos.ts';
import type { ReaMetrics } from '../app/metrics.ts';
import type { Performer } from '../app/outbox-worker.ts';
import type { HypothesisSource, Store } from '../app/ports.ts';
import type { Runbook } from '../core/model.ts';
import type { GithubSettings } from './settings.ts';

// The GitHub App: Probot and its webhook handlers, the performer of GitHub's effects, and the installations
// Slack's `/rea plan` finds repositories through.

export const GITHUB_WEBHOOKS_PATH = '/api/github/webhooks';

export interface GithubSurfaceDeps {
  store: Store;
  metrics: ReaMetrics;
  runbooks: Runbook[];
  log: Logger;
  now: () => Date;
  sources: HypothesisSource[];
  findDelayMs?: number;
  /** Octokit class for Probot; Probot's default (throttled) when unset. */
  Octokit?: typeof ProbotOctokit;
}

export interface GithubSurface {
  /** What the handlers, the performer and the reconciler work with. */
  deps: GithubAppDeps;
  /** Probot's webhook middleware, mounted at GITHUB_WEBHOOKS_PATH; calls `next` for any other request. */
  middleware: (req: IncomingMessage, res: ServerResponse, next?: () => void) => unknown;
  perform: Performer;
  installations: GithubInstallations;
}

export async function makeGithubSurface(
  settings: GithubSettings,
  surface: GithubSurfaceDeps,
): Promise<GithubSurface> {
  const { Octokit: OctokitClass, findDelayMs, ...rest } = surface;
  const probot = createProbot({
    env: {
      APP_ID: settings.appId,
      PRIVATE_KEY: settings.privateKey,
      WEBHOOK_SECRET: settings.webhookSecret,
      ...(settings.gheHost ? { GHE_HOST: settings.gheHost } : {}),
      ...(settings.gheProtocol ? { GHE_PROTOCOL: settings.gheProtocol } : {}),
      LOG_LEVEL: settings.logLevel,
    },
    ...(OctokitClass ? { overrides: { Octokit: OctokitClass } } : {}),
  });
  const deps: GithubAppDeps = {
    ...rest,
    octokitFor: async (installationId: number) => (await probot.auth(installationId)) as unknown as Octokit,
    ...(findDelayMs !== undefined ? { findDelayMs } : {}),
  };
  const middleware = await createNodeMiddleware(githubApp(deps), {
    probot,
    webhooksPath: GITHUB_WEBHOOKS_PATH,
  });
  return {
    deps,
    middleware,
    perform: makeGithubPerformer(deps),
    installations: new GithubInstallations({
      appOctokit: async () => (await probot.auth()) as unknown as Octokit,
      octokitFor: deps.octokitFor,
    }),
  };
}
