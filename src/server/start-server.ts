import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { ProbotOctokit } from 'probot';
import { reconcileGithub } from '../adapters/github/reconciler.ts';
import { researchSources } from '../adapters/llm/research-agents.ts';
import type { DigestScheduler } from '../app/digest-service.ts';
import { makeLogger } from '../app/logger.ts';
import { makeMetrics } from '../app/metrics.ts';
import type { HypothesisSource, Store } from '../app/ports.ts';
import { loadRunbooks } from '../config/runbooks.ts';
import { openStore } from '../db/store.ts';
import { makeGithubSurface } from './github-surface.ts';
import { httpRoutes } from './http-routes.ts';
import { startLoops } from './loops.ts';
import { makeServerPerformer, reportKeeper } from './performer.ts';
import { readServeSettings } from './settings.ts';
import { startSlackSurface } from './slack-surface.ts';

// `rea serve`: one HTTP server for GitHub webhooks, Slack (when configured), health and metrics, the outbox
// worker and the reconciler, assembled from the settings the environment gives (settings.ts).

export interface ReaServer {
  server: Server;
  url: string;
  store: Store;
  log: Logger;
  /** The weekly digest's scheduler, when Slack is configured (tests call its tick with a moved clock). */
  digests?: DigestScheduler;
  /** Runs the outbox and the reconciler once, now (tests use it instead of waiting for timers). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

export interface ServeOptions {
  env: NodeJS.ProcessEnv;
  port?: number;
  host?: string;
  store?: Store;
  now?: () => Date;
  outboxIntervalMs?: number;
  reconcileIntervalMs?: number;
  findDelayMs?: number;
  /**
   * Octokit class for Probot. Production keeps Probot's default, whose throttling spaces writes out as
   * GitHub's secondary rate limits ask; tests against the emulator pass an unthrottled one.
   */
  Octokit?: typeof ProbotOctokit;
  /** Hypothesis sources (tests inject fixed proposals); the offline research agent by default. */
  sources?: HypothesisSource[];
}

export async function startServer(opts: ServeOptions): Promise<ReaServer> {
  const settings = readServeSettings(opts.env);
  const log = makeLogger('info');
  const now = opts.now ?? (() => new Date());
  const store =
    opts.store ??
    (await openStore({
      ...(settings.databaseUrl ? { databaseUrl: settings.databaseUrl } : {}),
      dataDir: settings.dataDir,
    }));
  const { runbooks, problems } = await loadRunbooks({});
  if (problems.length > 0) throw new Error(`built-in runbooks are invalid: ${problems.join('; ')}`);
  const metrics = makeMetrics(store);
  const github = await makeGithubSurface(settings.github, {
    store,
    metrics,
    runbooks,
    log,
    now,
    sources: opts.sources ?? researchSources(opts.env, log),
    ...(opts.findDelayMs !== undefined ? { findDelayMs: opts.findDelayMs } : {}),
    ...(opts.Octokit ? { Octokit: opts.Octokit } : {}),
  });
  const slack = settings.slack
    ? await startSlackSurface(settings.slack, {
        store,
        plans: github.deps,
        repos: github.installations,
        digestSchedule: settings.digestSchedule,
        ...(settings.githubUrl ? { githubUrl: settings.githubUrl } : {}),
        now,
        log,
      })
    : undefined;
  const perform = makeServerPerformer({
    github: github.perform,
    ...(slack ? { slack: slack.chat } : {}),
    store,
    keepReport: reportKeeper(store, settings.reportDir),
    metrics,
  });

  const server = createServer(
    httpRoutes({
      github,
      ...(slack?.receiver ? { slackReceiver: slack.receiver } : {}),
      metrics,
      store,
      log,
    }),
  );
  await new Promise<void>((resolve) =>
    server.listen(opts.port ?? settings.port, opts.host ?? '0.0.0.0', resolve),
  );
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : '';

  const loops = startLoops({
    store,
    perform,
    reconcile: () => reconcileGithub(github.deps),
    now,
    log,
    reconcileSchedule: settings.reconcileSchedule,
    ...(opts.outboxIntervalMs !== undefined ? { outboxIntervalMs: opts.outboxIntervalMs } : {}),
    ...(opts.reconcileIntervalMs !== undefined ? { reconcileIntervalMs: opts.reconcileIntervalMs } : {}),
  });
  // The weekly digest (Slack only): its cron job, and the catch-up of a digest missed while no replica ran.
  const digestStart = slack?.digests
    .start()
    .catch((err) => log.error({ err: String(err) }, 'digest catch-up failed'));
  log.info({ url }, 'rea serve listening');
  return {
    server,
    url,
    store,
    log,
    ...(slack ? { digests: slack.digests } : {}),
    tick: () => loops.tick(),
    // Graceful stop: no new timers fire, the outbox batch in hand (and its transactions) finishes, the
    // server stops accepting connections and lets the requests in flight complete.
    close: async () => {
      await loops.stop();
      await digestStart;
      await slack?.digests.stop();
      await loops.settled();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await slack?.disconnect();
      if (!opts.store) await store.close();
    },
  };
}
