import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { createNodeMiddleware, createProbot, type ProbotOctokit } from 'probot';
import { githubApp } from './adapters/github/app.ts';
import type { Octokit } from './adapters/github/github-code-host.ts';
import { makeGithubPerformer } from './adapters/github/github-effects.ts';
import { reconcileGithub } from './adapters/github/reconciler.ts';
import { OfflineResearchAgent } from './adapters/llm/offline-research-agent.ts';
import { makeLogger } from './app/logger.ts';
import { drainOutbox } from './app/outbox-worker.ts';
import type { Store } from './app/ports.ts';
import { loadRunbooks } from './config/runbooks.ts';
import { openStore } from './db/store.ts';

// Composition root of `rea serve`: one HTTP server for GitHub webhooks and health, the outbox worker and
// the reconciler. No decisions here; everything is wired from the environment.

export interface ReaServer {
  server: Server;
  url: string;
  store: Store;
  log: Logger;
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
  const deps = {
    store,
    octokitFor: async (installationId: number) => (await probot.auth(installationId)) as unknown as Octokit,
    runbooks,
    log,
    now,
    sources: [new OfflineResearchAgent()],
    ...(opts.findDelayMs !== undefined ? { findDelayMs: opts.findDelayMs } : {}),
  };
  const middleware = await createNodeMiddleware(githubApp(deps), {
    probot,
    webhooksPath: '/api/github/webhooks',
  });
  const perform = makeGithubPerformer(deps);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === '/healthz') {
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
  const reconcileTimer = setInterval(() => !stopped && void reconcile(), opts.reconcileIntervalMs ?? 180_000);
  void reconcile();
  log.info({ url }, 'rea serve listening');
  return {
    server,
    url,
    store,
    log,
    tick: async () => {
      await drain();
      await reconcile();
      await drain();
    },
    close: async () => {
      stopped = true;
      clearInterval(outboxTimer);
      clearInterval(reconcileTimer);
      await draining;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!opts.store) await store.close();
    },
  };
}
