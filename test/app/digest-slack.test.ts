import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver } from '@slack/bolt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSlackHandlers } from '../../src/adapters/slack/app.ts';
import { SlackDigestPoster } from '../../src/adapters/slack/digest-poster.ts';
import { makeSlackDeps, type SlackUseCaseDeps } from '../../src/adapters/slack/slack-use-cases.ts';
import { quietLogger, webClient } from '../adapters/slack/helpers.ts';
import {
  postToBolt,
  type SlackEmulator,
  slashCommandBody,
  startSlackEmulator,
} from '../emulators/slack/index.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';
import { savePlans, weekPlans } from './digest-fixtures.ts';

// `/rea digest` through Bolt's real HTTP receiver, with the real use case on a real store: `now` posts the
// current week's digest (and its chart) to the asking channel and records nothing; without `now` the asker
// alone sees it.

const SECRET = 'digest-signing-secret';
const silent = pino({ level: 'silent' });

let t: TestStore;
let slack: SlackEmulator;
let app: App;
let url: string;

beforeAll(async () => {
  t = await openTestStore();
  await savePlans(t.store, weekPlans());
  slack = await startSlackEmulator();
  const receiver = new HTTPReceiver({ signingSecret: SECRET, logger: quietLogger() });
  app = new App({
    token: slack.token,
    receiver,
    logger: quietLogger(),
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
  });
  const plans = {
    store: t.store,
    // Thursday of 2026-W47: the plans' week.
    now: () => new Date('2026-11-19T15:00:00Z'),
    runbooks: [],
    log: silent,
  } as unknown as SlackUseCaseDeps['plans'];
  registerSlackHandlers(
    app,
    makeSlackDeps({
      plans,
      repos: { open: () => Promise.reject(new Error('not used')) },
      client: app.client,
      digests: { poster: new SlackDigestPoster(webClient(slack), silent), timeZone: 'UTC' },
      log: silent,
    }),
  );
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
});
afterAll(async () => {
  await app.stop();
  await slack.close();
  await t.cleanup();
});

async function slash(text: string, channel: string) {
  const res = await postToBolt(
    url,
    slashCommandBody({ emulator: slack, text, user_id: 'U0ALICE', channel_id: channel }),
    {
      secret: SECRET,
    },
  );
  expect(res.status).toBe(200);
}

describe('/rea digest', () => {
  it('`now` posts the current week so far, with its chart, to the asking channel only', async () => {
    await slash('digest now', 'C0EXPERIMENTS');
    const reply = await slack.waitFor(() => slack.responses[0], 10_000);
    expect(JSON.stringify(reply.body)).toContain('Posted this week');
    const posted = slack.messages.filter((m) => m.thread_ts === undefined);
    expect(posted).toHaveLength(1);
    expect(posted[0]!.channel).toBe('C0EXPERIMENTS');
    expect(posted[0]!.text).toContain('Weekly digest 2026-W47');
    expect(posted[0]!.text).toContain('so far');
    expect(JSON.stringify(posted[0]!.blocks)).toContain('ctr-a00002');
    expect(JSON.stringify(posted[0]!.blocks)).not.toContain('ctr-b00001');
    await slack.waitFor(() => slack.files.length === 1);
    expect(slack.files[0]!.thread_ts).toBe(posted[0]!.ts);
    // On demand is not the weekly send: Monday's digest still goes out.
    expect(await t.store.listDigests()).toEqual([]);
  });

  it('without `now` shows the digest to the asker and posts nothing', async () => {
    const before = slack.messages.length;
    await slash('digest', 'C0RANKING');
    const reply = await slack.waitFor(() => slack.responses[1], 10_000);
    expect(JSON.stringify(reply.body)).toContain('Weekly digest 2026-W47');
    expect(JSON.stringify(reply.body)).toContain('ctr-b00001');
    expect(slack.messages.length).toBe(before);
  });

  it('says so, and posts nothing, in a channel that has no plan threads', async () => {
    const before = slack.messages.length;
    await slash('digest now', 'C0EMPTY');
    const reply = await slack.waitFor(() => slack.responses[2], 10_000);
    expect(JSON.stringify(reply.body)).toContain('No plan has its thread in');
    expect(slack.messages.length).toBe(before);
  });
});
