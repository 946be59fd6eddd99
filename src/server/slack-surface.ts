import { hostname } from 'node:os';
import { App, type Logger as BoltLogger, HTTPReceiver, LogLevel, webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import { registerSlackHandlers } from '../adapters/slack/app.ts';
import { SlackDigestPoster } from '../adapters/slack/digest-poster.ts';
import { SlackChat } from '../adapters/slack/slack-chat.ts';
import { makeSlackDeps, type SlackUseCaseDeps } from '../adapters/slack/slack-use-cases.ts';
import { type DigestSchedule, DigestScheduler } from '../app/digest-service.ts';
import { loadModelPlans, updateSlackThread } from '../app/plan-service.ts';
import type { RepoInstallations, Store } from '../app/ports.ts';
import type { SlackSettings } from './settings.ts';

// Slack: Bolt (behind rea's HTTP server, or over Socket Mode), the handlers of `/rea` and the buttons, the
// chat that the outbox posts plan threads through, and the weekly digest's scheduler.

export const SLACK_EVENTS_PATH = '/slack/events';

/** Bolt logs through rea's logger (pino), one level quieter: Bolt's info is chatty. */
export function boltLogger(log: Logger): BoltLogger {
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

export interface SlackSurfaceDeps {
  store: Store;
  /** What plans are made and changed with (the GitHub surface's deps). */
  plans: SlackUseCaseDeps['plans'];
  repos: RepoInstallations;
  digestSchedule: DigestSchedule;
  /** Where Slack messages link to GitHub (GitHub Enterprise); github.com when unset. */
  githubUrl?: string;
  now: () => Date;
  log: Logger;
}

export interface SlackSurface {
  /** Bolt's HTTP receiver, mounted at SLACK_EVENTS_PATH; absent in Socket Mode. */
  receiver?: HTTPReceiver;
  app: App;
  chat: SlackChat;
  digests: DigestScheduler;
  /** Closes the Socket Mode connection (an HTTP receiver has none of its own). */
  disconnect(): Promise<void>;
}

function boltApp(settings: SlackSettings, boltLog: BoltLogger): { app: App; receiver?: HTTPReceiver } {
  const clientOptions = settings.apiUrl ? { slackApiUrl: settings.apiUrl } : {};
  // Socket Mode (SLACK_APP_TOKEN) serves teams without a public URL: Bolt opens the connection to Slack
  // itself and /slack/events is not used. Otherwise Bolt's HTTP receiver sits behind this server.
  if (settings.appToken) {
    const app = new App({
      token: settings.botToken,
      appToken: settings.appToken,
      socketMode: true,
      signingSecret: settings.signingSecret,
      logger: boltLog,
      clientOptions,
    });
    return { app };
  }
  const receiver = new HTTPReceiver({
    signingSecret: settings.signingSecret,
    endpoints: SLACK_EVENTS_PATH,
    logger: boltLog,
  });
  return { app: new App({ token: settings.botToken, receiver, logger: boltLog, clientOptions }), receiver };
}

/** The outbox's own client: no retries and no waiting out rate limits, so that a slow Slack never holds the
 * worker; a failed effect is retried by the outbox with backoff. The digest posts through it too: a client
 * retrying on its own could post a digest twice. */
function outboxClient(settings: SlackSettings, boltLog: BoltLogger): webApi.WebClient {
  return new webApi.WebClient(settings.botToken, {
    ...(settings.apiUrl ? { slackApiUrl: settings.apiUrl } : {}),
    logger: boltLog,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
  });
}

export async function startSlackSurface(
  settings: SlackSettings,
  deps: SlackSurfaceDeps,
): Promise<SlackSurface> {
  const { store, log, now } = deps;
  const boltLog = boltLogger(log);
  const { app, receiver } = boltApp(settings, boltLog);
  const client = outboxClient(settings, boltLog);
  const digestPoster = new SlackDigestPoster(client, log);
  registerSlackHandlers(
    app,
    makeSlackDeps({
      plans: deps.plans,
      repos: deps.repos,
      client: app.client,
      ...(settings.defaultChannel ? { defaultChannel: settings.defaultChannel } : {}),
      digests: { poster: digestPoster, timeZone: deps.digestSchedule.timeZone },
      log,
    }),
  );
  const digests = new DigestScheduler({
    store,
    poster: digestPoster,
    schedule: deps.digestSchedule,
    now,
    log,
    replicaId: `${hostname()}:${process.pid}`,
  });
  const chat = new SlackChat(client, {
    onParentPosted: (planId, channel, ts) => updateSlackThread(store, planId, { channel, ts }),
    history: (model) => loadModelPlans(store, model),
    log,
    ...(deps.githubUrl ? { githubUrl: deps.githubUrl } : {}),
  });
  if (!receiver) await app.start();
  return {
    ...(receiver ? { receiver } : {}),
    app,
    chat,
    digests,
    disconnect: async () => {
      if (!receiver) await app.stop();
    },
  };
}
