import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import path from 'node:path';
import { App, type Logger as BoltLogger, HTTPReceiver, LogLevel, webApi } from '@slack/bolt';
import cron from 'node-cron';
import type { Logger } from 'pino';
import { createNodeMiddleware, createProbot, type ProbotOctokit } from 'probot';
import { githubApp } from './adapters/github/app.ts';
import type { Octokit } from './adapters/github/github-code-host.ts';
import { makeGithubPerformer } from './adapters/github/github-effects.ts';
import { GithubInstallations } from './adapters/github/github-repos.ts';
import { reconcileGithub } from './adapters/github/reconciler.ts';
import { researchSources } from './adapters/llm/research-agents.ts';
import { registerSlackHandlers } from './adapters/slack/app.ts';
import { SlackDigestPoster } from './adapters/slack/digest-poster.ts';
import { SlackChat } from './adapters/slack/slack-chat.ts';
import { makeSlackDeps } from './adapters/slack/slack-use-cases.ts';
import { DigestScheduler, digestScheduleFromEnv } from './app/digest-service.ts';
import { writeReport } from './app/effects.ts';
import { makeLogger } from './app/logger.ts';
import { makeMetrics } from './app/metrics.ts';
import { drainOutbox, type Performer } from './app/outbox-worker.ts';
import { loadModelPlans, updateSlackThread } from './app/plan-service.ts';
import type { Chat, HypothesisSource, Store } from './app/ports.ts';
import { renderReport } from './app/render.ts';
import { loadRunbooks } from './config/runbooks.ts';
import type { Effect, PlanState } from './core/model.ts';
import { openStore } from './db/store.ts';

// Composition root of `rea serve`: one HTTP server for GitHub webhooks, Slack (when configured), health and
// metrics, the outbox worker and the reconciler. No decisions here; everything is wired from the environment.

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

/** Bolt logs through rea's logger (pino), one level quieter: Bolt's info is chatty. */
function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.WARN;
  const msg = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ');
  return {
    debug: (...a: unknown[]) => log.debug({ source: 'bolt' }, msg(a)),
    info: (...a: unknown[]) => log.debug({ source: 'bolt' }, msg(a)),
    warn: (...a: unknown[]) => log.warn({ source: 'bolt' }, msg(a)),
    error: (...a: unknown[]) => log.error({ source: 'bolt' }, msg(a)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

/** The chat effects of a plan with a Slack thread, performed on that thread. */
async function performChat(chat: Chat, effect: Effect, plan: PlanState): Promise<void> {
  switch (effect.type) {
    case 'publish_plan':
      await chat.publishPlan(plan);
      return;
    case 'notify':
      await chat.notify(plan, effect.topic, effect.text);
      return;
    case 'escalate':
      await chat.escalate(plan, effect);
      return;
    case 'request_budget':
      await chat.requestBudget(plan, effect);
      return;
    case 'write_report':
      await chat.report(plan, renderReport(plan));
      return;
    case 'open_promotion':
      await chat.promote(plan, effect);
      return;
    default:
      return;
  }
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set (see README: running rea serve)`);
  return v;
}

export async function startServer(opts: ServeOptions): Promise<ReaServer> {
  const { env } = opts;
  const log = makeLogger('info');
  const now = opts.now ?? (() => new Date());
  // Checked first: a bad schedule or time zone fails start-up with a message naming the variable.
  const digestSchedule = digestScheduleFromEnv(env);
  const privateKey =
    env.PRIVATE_KEY ??
    (env.PRIVATE_KEY_PATH ? (await import('node:fs')).readFileSync(env.PRIVATE_KEY_PATH, 'utf8') : undefined);
  if (!privateKey) throw new Error('PRIVATE_KEY or PRIVATE_KEY_PATH is not set (the GitHub App private key)');
  const store =
    opts.store ??
    (await openStore({
      ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
      dataDir: path.resolve(env.REA_DATA_DIR ?? '.rea'),
    }));
  const { runbooks, problems } = await loadRunbooks({});
  if (problems.length > 0) throw new Error(`built-in runbooks are invalid: ${problems.join('; ')}`);
  const probot = createProbot({
    env: {
      APP_ID: required(env, 'APP_ID'),
      PRIVATE_KEY: privateKey,
      WEBHOOK_SECRET: required(env, 'WEBHOOK_SECRET'),
      ...(env.GHE_HOST ? { GHE_HOST: env.GHE_HOST } : {}),
      ...(env.GHE_PROTOCOL ? { GHE_PROTOCOL: env.GHE_PROTOCOL } : {}),
      LOG_LEVEL: (env.LOG_LEVEL as 'info') ?? 'warn',
    },
    ...(opts.Octokit ? { overrides: { Octokit: opts.Octokit } } : {}),
  });
  const metrics = makeMetrics(store);
  const deps = {
    store,
    metrics,
    octokitFor: async (installationId: number) => (await probot.auth(installationId)) as unknown as Octokit,
    runbooks,
    log,
    now,
    sources: opts.sources ?? researchSources(env, log),
    ...(opts.findDelayMs !== undefined ? { findDelayMs: opts.findDelayMs } : {}),
  };
  const middleware = await createNodeMiddleware(githubApp(deps), {
    probot,
    webhooksPath: '/api/github/webhooks',
  });
  const githubPerform = makeGithubPerformer(deps);

  // Slack, when its bot token and signing secret are set: Bolt's HTTP receiver behind this server.
  let slack: { receiver?: HTTPReceiver; app: App; chat: SlackChat; digests: DigestScheduler } | undefined;
  if (env.SLACK_BOT_TOKEN && env.SLACK_SIGNING_SECRET) {
    const boltLog = boltLogger(log);
    const slackApi = env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {};
    // Socket Mode (SLACK_APP_TOKEN) serves teams without a public URL: Bolt opens the connection to Slack
    // itself and /slack/events is not used. Otherwise Bolt's HTTP receiver sits behind this server.
    const receiver = env.SLACK_APP_TOKEN
      ? undefined
      : new HTTPReceiver({
          signingSecret: env.SLACK_SIGNING_SECRET,
          endpoints: '/slack/events',
          logger: boltLog,
        });
    const app = receiver
      ? new App({ token: env.SLACK_BOT_TOKEN, receiver, logger: boltLog, clientOptions: { ...slackApi } })
      : new App({
          token: env.SLACK_BOT_TOKEN,
          appToken: env.SLACK_APP_TOKEN,
          socketMode: true,
          signingSecret: env.SLACK_SIGNING_SECRET,
          logger: boltLog,
          clientOptions: { ...slackApi },
        });
    // The outbox's own client: no retries and no waiting out rate limits, so that a slow Slack never holds
    // the worker; a failed effect is retried by the outbox with backoff. The digest posts through it too: a
    // client retrying on its own could post a digest twice.
    const outboxClient = new webApi.WebClient(env.SLACK_BOT_TOKEN, {
      ...slackApi,
      logger: boltLog,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    });
    const digestPoster = new SlackDigestPoster(outboxClient, log);
    registerSlackHandlers(
      app,
      makeSlackDeps({
        plans: deps,
        repos: new GithubInstallations({
          appOctokit: async () => (await probot.auth()) as unknown as Octokit,
          octokitFor: deps.octokitFor,
        }),
        client: app.client,
        ...(env.REA_SLACK_CHANNEL ? { defaultChannel: env.REA_SLACK_CHANNEL } : {}),
        digests: { poster: digestPoster, timeZone: digestSchedule.timeZone },
        log,
      }),
    );
    const digests = new DigestScheduler({
      store,
      poster: digestPoster,
      schedule: digestSchedule,
      now,
      log,
      replicaId: `${hostname()}:${process.pid}`,
    });
    const chat = new SlackChat(outboxClient, {
      onParentPosted: (planId, channel, ts) => updateSlackThread(store, planId, { channel, ts }),
      history: (model) => loadModelPlans(store, model),
      log,
      ...(env.GHE_HOST ? { githubUrl: `${env.GHE_PROTOCOL ?? 'https'}://${env.GHE_HOST}` } : {}),
    });
    slack = { ...(receiver ? { receiver } : {}), app, chat, digests };
    if (!receiver) await app.start();
  }

  // GitHub first (the Slack parent links the PR it opens), then the plan's Slack thread. An item whose GitHub
  // part succeeded but whose Slack part failed does not repeat the GitHub part on its retry in this process.
  const githubDone = new Set<number>();
  const reportDir = path.join(path.resolve(env.REA_DATA_DIR ?? '.rea'), 'reports');
  const perform: Performer = async (effect, plan, item) => {
    // The full report is kept on disk as well ($REA_DATA_DIR/reports); PR comments and Slack get it cut.
    if (effect.type === 'write_report' && plan)
      await writeReport(plan, reportDir, await loadModelPlans(store, plan.spec.model));
    if (!githubDone.has(item.id)) {
      await githubPerform(effect, plan, item);
      githubDone.add(item.id);
    }
    try {
      if (slack && plan?.slack) {
        const fresh = (await store.getPlan(plan.id)) ?? plan;
        await performChat(slack.chat, effect, fresh);
      }
    } catch (err) {
      metrics.effectFailures.inc({ type: `${effect.type}:slack` });
      throw err;
    }
    githubDone.delete(item.id);
    metrics.effects.inc({ type: effect.type });
    if (effect.type === 'dispatch_run' || effect.type === 'retry_run') metrics.dispatches.inc();
  };

  const renderMetrics = () => metrics.registry.metrics();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && pathname === '/slack/events') {
      if (!slack?.receiver) {
        res.writeHead(404).end();
        return;
      }
      metrics.webhooks.inc({ source: 'slack' });
      try {
        slack.receiver!.requestListener(req, res);
      } catch (err) {
        log.error({ err: String(err) }, 'slack request failed');
        if (!res.headersSent) res.writeHead(500).end();
      }
      return;
    }
    if (req.method === 'GET' && pathname === '/metrics') {
      renderMetrics()
        .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
        .catch(() => res.writeHead(503).end());
      return;
    }
    if (req.method === 'POST' && pathname === '/api/github/webhooks')
      metrics.webhooks.inc({ source: 'github' });
    if (req.method === 'GET' && pathname === '/healthz') {
      store
        .outboxBacklog()
        .then((backlog) =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ok: true, outboxBacklog: backlog })),
        )
        .catch(() => res.writeHead(503).end('{"ok":false}'));
      return;
    }
    void middleware(req, res, () => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) =>
    server.listen(opts.port ?? Number(env.PORT ?? 3000), opts.host ?? '0.0.0.0', resolve),
  );
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : '';

  let draining: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const drain = () => {
    draining = draining.then(() =>
      drainOutbox({ store, perform, now, log }).catch((err) =>
        log.error({ err: String(err) }, 'outbox worker failed'),
      ),
    );
    return draining;
  };
  const reconcile = () =>
    reconcileGithub(deps).catch((err) => log.error({ err: String(err) }, 'reconciler failed'));
  const outboxTimer = setInterval(() => !stopped && void drain(), opts.outboxIntervalMs ?? 500);
  // The reconciler runs on a cron schedule (REA_RECONCILE_CRON, every 3 minutes by default); tests give an
  // interval in milliseconds instead.
  const reconcileTimer =
    opts.reconcileIntervalMs !== undefined
      ? setInterval(() => !stopped && void reconcile(), opts.reconcileIntervalMs)
      : undefined;
  const reconcileSchedule = env.REA_RECONCILE_CRON ?? '*/3 * * * *';
  if (!cron.validate(reconcileSchedule))
    throw new Error(`REA_RECONCILE_CRON '${reconcileSchedule}' is not a valid cron expression`);
  const reconcileCron =
    opts.reconcileIntervalMs === undefined
      ? cron.schedule(reconcileSchedule, () => {
          if (!stopped) void reconcile();
        })
      : undefined;
  void reconcile();
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
    tick: async () => {
      await drain();
      await reconcile();
      await drain();
    },
    // Graceful stop: no new timers fire, the outbox batch in hand (and its transactions) finishes, the
    // server stops accepting connections and lets the requests in flight complete.
    close: async () => {
      stopped = true;
      clearInterval(outboxTimer);
      clearInterval(reconcileTimer);
      await reconcileCron?.stop();
      await digestStart;
      await slack?.digests.stop();
      await draining;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (slack && !slack.receiver) await slack.app.stop();
      if (!opts.store) await store.close();
    },
  };
}
