import { readFileSync } from 'node:fs';
import path from 'node:path';
import cron from 'node-cron';
import { type DigestSchedule, digestScheduleFromEnv } from '../app/digest-service.ts';

// `rea serve` is configured by the environment, and this is the one place that reads it: every check of a
// variable, and every default, is here, so that a bad setting fails start-up with a message naming it and the
// rest of the server reads a typed object instead of `process.env`.

export interface GithubSettings {
  appId: string;
  /** The GitHub App's private key (PEM): PRIVATE_KEY, or the contents of the file at PRIVATE_KEY_PATH. */
  privateKey: string;
  webhookSecret: string;
  gheHost?: string;
  gheProtocol?: string;
  /** Probot's own log level (LOG_LEVEL, `warn` by default). */
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}

/** Slack is served when its bot token and signing secret are both set. */
export interface SlackSettings {
  botToken: string;
  signingSecret: string;
  /** Socket Mode's app-level token: set for teams without a public URL (Bolt connects to Slack itself). */
  appToken?: string;
  /** The Web API's base URL (SLACK_API_URL; tests point it at the emulator). */
  apiUrl?: string;
  /** REA_SLACK_CHANNEL: the channel for plan threads when `.rea.yml` names none. */
  defaultChannel?: string;
}

export interface ServeSettings {
  github: GithubSettings;
  /** GitHub Enterprise's web address, which Slack messages link to (github.com when unset). */
  githubUrl?: string;
  slack?: SlackSettings;
  /** DATABASE_URL: PostgreSQL; the embedded database in `dataDir` when unset. */
  databaseUrl?: string;
  /** REA_DATA_DIR (`.rea` by default), resolved. */
  dataDir: string;
  /** Where full reports are kept on disk ($REA_DATA_DIR/reports). */
  reportDir: string;
  port: number;
  digestSchedule: DigestSchedule;
  /** REA_RECONCILE_CRON: when the reconciler runs (every 3 minutes by default). */
  reconcileSchedule: string;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set (see README: running rea serve)`);
  return v;
}

function readPrivateKey(env: NodeJS.ProcessEnv): string {
  const privateKey =
    env.PRIVATE_KEY ?? (env.PRIVATE_KEY_PATH ? readFileSync(env.PRIVATE_KEY_PATH, 'utf8') : undefined);
  if (!privateKey) throw new Error('PRIVATE_KEY or PRIVATE_KEY_PATH is not set (the GitHub App private key)');
  return privateKey;
}

function readSlack(env: NodeJS.ProcessEnv): SlackSettings | undefined {
  if (!env.SLACK_BOT_TOKEN || !env.SLACK_SIGNING_SECRET) return undefined;
  return {
    botToken: env.SLACK_BOT_TOKEN,
    signingSecret: env.SLACK_SIGNING_SECRET,
    ...(env.SLACK_APP_TOKEN ? { appToken: env.SLACK_APP_TOKEN } : {}),
    ...(env.SLACK_API_URL ? { apiUrl: env.SLACK_API_URL } : {}),
    ...(env.REA_SLACK_CHANNEL ? { defaultChannel: env.REA_SLACK_CHANNEL } : {}),
  };
}

/** Reads and checks `rea serve`'s settings; throws, naming the variable, on the first one missing or invalid. */
export function readServeSettings(env: NodeJS.ProcessEnv): ServeSettings {
  // Checked first: a bad schedule or time zone fails start-up with a message naming the variable.
  const digestSchedule = digestScheduleFromEnv(env);
  const privateKey = readPrivateKey(env);
  const github: GithubSettings = {
    appId: required(env, 'APP_ID'),
    privateKey,
    webhookSecret: required(env, 'WEBHOOK_SECRET'),
    ...(env.GHE_HOST ? { gheHost: env.GHE_HOST } : {}),
    ...(env.GHE_PROTOCOL ? { gheProtocol: env.GHE_PROTOCOL } : {}),
    logLevel: (env.LOG_LEVEL as GithubSettings['logLevel']) ?? 'warn',
  };
  const reconcileSchedule = env.REA_RECONCILE_CRON ?? '*/3 * * * *';
  if (!cron.validate(reconcileSchedule))
    throw new Error(`REA_RECONCILE_CRON '${reconcileSchedule}' is not a valid cron expression`);
  const dataDir = path.resolve(env.REA_DATA_DIR ?? '.rea');
  const slack = readSlack(env);
  return {
    github,
    ...(env.GHE_HOST ? { githubUrl: `${env.GHE_PROTOCOL ?? 'https'}://${env.GHE_HOST}` } : {}),
    ...(slack ? { slack } : {}),
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    dataDir,
    reportDir: path.join(dataDir, 'reports'),
    port: Number(env.PORT ?? 3000),
    digestSchedule,
    reconcileSchedule,
  };
}
