import type { AddressInfo } from 'node:net';
import { App, type Logger, LogLevel, type SlashCommand, webApi } from '@slack/bolt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SlackEmulator, startSlackEmulator } from './slack/emulator.ts';
import { blockActionBody, postToBolt, signSlackRequest, slashCommandBody } from './slack/requests.ts';

// The emulator is only worth having if the real clients accept it, so every case here goes through the real
// WebClient (as Bolt's `client` is) or a real Bolt App with its HTTPReceiver.

const CHANNEL = 'C0EXPERIMENTS';
const SECRET = 'test-signing-secret';
// A 1x1 PNG: what a chart upload carries, small enough to compare byte for byte.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

// WebClient logs Slack's "[ERROR] ..." response messages and retries at warn/info; the tests assert on them.
function quietLogger(): Logger {
  let level = LogLevel.ERROR;
  const noop = () => {};
  return {
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: noop,
  };
}

function webClient(emulator: SlackEmulator, options: webApi.WebClientOptions = {}, token = emulator.token) {
  // retries: 0 so an unexpected failure surfaces at once instead of after the default ~30 minute policy.
  return new webApi.WebClient(token, {
    slackApiUrl: emulator.apiUrl,
    logger: quietLogger(),
    retryConfig: { retries: 0 },
    ...options,
  });
}

function section(text: string) {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}

function approveButtons(planId: string, value = `plan:${planId}`) {
  return {
    type: 'actions',
    block_id: `plan-${planId}-decision`,
    elements: [
      {
        type: 'button',
        action_id: 'approve',
        style: 'primary',
        text: { type: 'plain_text', text: 'Approve' },
        value,
      },
      {
        type: 'button',
        action_id: 'reject',
        style: 'danger',
        text: { type: 'plain_text', text: 'Reject' },
        value,
      },
    ],
  };
}

async function platformError(
  call: Promise<unknown>,
): Promise<{ code: string; data: Record<string, unknown> }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to fail').toBeInstanceOf(Error);
  return err as { code: string; data: Record<string, unknown> };
}

describe('Slack emulator with the real WebClient', () => {
  let emulator: SlackEmulator;
  let client: webApi.WebClient;

  beforeAll(async () => {
    emulator = await startSlackEmulator();
    client = webClient(emulator);
  });
  afterAll(() => emulator.close());
  beforeEach(() => emulator.reset());

  it('posts a plan parent, replies in its thread and updates the parent in place', async () => {
    const parent = await client.chat.postMessage({
      channel: CHANNEL,
      text: 'Plan 7: 4 runs, $12',
      blocks: [section('*Plan 7*: 4 runs, est. $12'), approveButtons('7')],
    });
    expect(parent.ok).toBe(true);
    expect(parent.channel).toBe(CHANNEL);
    expect(parent.message?.text).toBe('Plan 7: 4 runs, $12');
    const ts = parent.ts!;

    // WebClient form-encodes every call, so `blocks` travels as a JSON string inside the form.
    const call = emulator.calls.find((c) => c.method === 'chat.postMessage')!;
    expect(call.contentType).toBe('application/x-www-form-urlencoded');
    expect(call.args.blocks).toHaveLength(2);

    await client.chat.postMessage({ channel: CHANNEL, thread_ts: ts, text: 'Phase 1 done: 2 of 4 runs' });
    // By name as well as by id, as chat.postMessage allows.
    const byName = await client.chat.postMessage({
      channel: '#experiments',
      thread_ts: ts,
      text: 'Phase 2 done',
    });
    expect(byName.channel).toBe(CHANNEL);

    await client.chat.update({
      channel: CHANNEL,
      ts,
      text: 'Plan 7: approved',
      blocks: [section('*Plan 7*: approved by <@U0ALICE>')],
    });

    const thread = emulator.thread(CHANNEL, ts);
    expect(thread.map((m) => m.text)).toEqual([
      'Plan 7: approved',
      'Phase 1 done: 2 of 4 runs',
      'Phase 2 done',
    ]);
    const [top] = thread;
    expect(top!.original.text).toBe('Plan 7: 4 runs, $12');
    expect(top!.updates).toHaveLength(1);
    expect(top!.blocks).toHaveLength(1);
    expect(top!.bot_id).toBe(emulator.botId);
    expect(emulator.latest(CHANNEL)?.text).toBe('Phase 2 done');
    expect(emulator.latest(CHANNEL, { topLevel: true })?.ts).toBe(ts);

    const replies = await client.conversations.replies({ channel: CHANNEL, ts });
    expect(replies.messages?.map((m) => m.text)).toEqual(thread.map((m) => m.text));
    expect(replies.messages?.[0]?.reply_count).toBe(2);

    const link = await client.chat.getPermalink({ channel: CHANNEL, message_ts: ts });
    expect(link.permalink).toContain(`/archives/${CHANNEL}/p${ts.replace('.', '')}`);
  });

  it('records an ephemeral message for one user', async () => {
    const res = await client.chat.postEphemeral({
      channel: CHANNEL,
      user: 'U0BOB',
      text: 'Only approvers can approve plan 7',
    });
    expect(res.message_ts).toBeTruthy();
    expect(emulator.ephemerals).toEqual([
      expect.objectContaining({ channel: CHANNEL, user: 'U0BOB', via: 'chat.postEphemeral' }),
    ]);
    expect(emulator.messages).toHaveLength(0);
  });

  it('takes a PNG through files.uploadV2 into a thread', async () => {
    const parent = await client.chat.postMessage({ channel: CHANNEL, text: 'Plan 7' });
    const res = await client.files.uploadV2({
      channel_id: CHANNEL,
      thread_ts: parent.ts!,
      file: PNG,
      filename: 'ne-by-arm.png',
      title: 'NE by arm',
      alt_text: 'bar chart of NE by arm',
    });
    expect(res.ok).toBe(true);

    expect(emulator.calls.map((c) => c.method)).toEqual([
      'chat.postMessage',
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
    const [file] = emulator.files;
    expect(file).toMatchObject({
      name: 'ne-by-arm.png',
      title: 'NE by arm',
      mimetype: 'image/png',
      channel: CHANNEL,
      thread_ts: parent.ts,
      declaredLength: PNG.length,
    });
    expect(file!.bytes.equals(PNG)).toBe(true);
    const thread = emulator.thread(CHANNEL, parent.ts!);
    expect(thread[1]?.files).toEqual([file!.id]);
  });

  it('answers the reads rea makes: auth, channel, user, usergroup', async () => {
    const auth = await client.auth.test();
    expect(auth).toMatchObject({
      user_id: emulator.botUserId,
      bot_id: emulator.botId,
      team_id: emulator.teamId,
    });
    const info = await client.conversations.info({ channel: CHANNEL });
    expect(info.channel?.name).toBe('experiments');
    const list = await client.conversations.list({});
    expect(list.channels?.map((c) => c.id)).toContain(CHANNEL);
    const user = await client.users.info({ user: 'U0ALICE' });
    expect(user.user?.real_name).toBe('Alice Approver');
    const group = await client.usergroups.users.list({ usergroup: 'S0APPROVERS' });
    expect(group.users).toEqual(['U0ALICE']);
    expect((await platformError(client.users.info({ user: 'U0NOBODY' }))).data.error).toBe('user_not_found');
    expect((await platformError(client.usergroups.users.list({ usergroup: 'S0NONE' }))).data.error).toBe(
      'no_such_subteam',
    );
  });

  it('accepts Block Kit at its limits', async () => {
    const blocks = [
      section('x'.repeat(3000)),
      approveButtons('7', 'v'.repeat(2000)),
      ...Array.from({ length: 48 }, () => ({ type: 'divider' })),
    ];
    const res = await client.chat.postMessage({ channel: CHANNEL, text: 't'.repeat(40_000), blocks });
    expect(res.ok).toBe(true);
  });

  it.each([
    ['51 blocks', Array.from({ length: 51 }, () => ({ type: 'divider' })), 'no more than 50 items allowed'],
    ['3001 characters of section text', [section('x'.repeat(3001))], 'must be less than 3001 characters'],
    [
      'a 2001-character button value',
      [approveButtons('7', 'v'.repeat(2001))],
      'must be less than 2001 characters',
    ],
    [
      'a 256-character action_id',
      [
        {
          type: 'actions',
          elements: [
            { type: 'button', action_id: 'a'.repeat(256), text: { type: 'plain_text', text: 'Go' } },
          ],
        },
      ],
      'must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]',
    ],
    [
      'a 256-character block_id',
      [{ ...section('x'), block_id: 'b'.repeat(256) }],
      'must be less than 256 characters [json-pointer:/blocks/0/block_id]',
    ],
  ])('rejects %s with invalid_blocks saying which limit', async (_name, blocks, message) => {
    const err = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 'x', blocks }));
    // WebClient turns `ok: false` into a platform error carrying Slack's whole answer in `data`.
    expect(err.code).toBe(webApi.ErrorCode.PlatformError);
    expect(err.data.error).toBe('invalid_blocks');
    expect(JSON.stringify(err.data.response_metadata)).toContain(message);
    expect(emulator.messages).toHaveLength(0);
  });

  it('applies the same limits to chat.update and rejects text over 40000 characters', async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: 'Plan 7' });
    const update = await platformError(
      client.chat.update({ channel: CHANNEL, ts: ts!, text: 'x', blocks: [section('x'.repeat(3001))] }),
    );
    expect(update.data.error).toBe('invalid_blocks');
    const long = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 't'.repeat(40_001) }));
    expect(long.data.error).toBe('msg_too_long');
    expect(emulator.message(CHANNEL, ts!)?.updates).toHaveLength(0);
  });

  it('answers channel_not_found and message_not_found', async () => {
    expect((await platformError(client.chat.postMessage({ channel: 'C0NOPE', text: 'hi' }))).data.error).toBe(
      'channel_not_found',
    );
    expect(
      (await platformError(client.chat.update({ channel: CHANNEL, ts: '1.000001', text: 'x' }))).data.error,
    ).toBe('message_not_found');
  });

  it('fails the next call of a method on demand, then recovers', async () => {
    emulator.failNext('chat.postMessage', 'is_archived');
    const err = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 'hi' }));
    expect(err.data.error).toBe('is_archived');
    await client.chat.postMessage({ channel: CHANNEL, text: 'hi again' });
    expect(emulator.messages.map((m) => m.text)).toEqual(['hi again']);
  });

  it('sends 429 with Retry-After, which WebClient waits out and retries', async () => {
    const retrying = webClient(emulator, { retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } });
    emulator.rateLimitNext('chat.postMessage', 1);
    const started = Date.now();
    const res = await retrying.chat.postMessage({ channel: CHANNEL, text: 'after the pause' });
    expect(res.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(emulator.calls.map((c) => c.status)).toEqual([429, 200]);
    expect(emulator.messages).toHaveLength(1);
  });

  it('surfaces the 429 as a rate-limited error when the client rejects rate-limited calls', async () => {
    const rejecting = webClient(emulator, { rejectRateLimitedCalls: true });
    emulator.rateLimitNext('chat.update', 7);
    const err = (await platformError(
      rejecting.chat.update({ channel: CHANNEL, ts: '1.1', text: 'x' }),
    )) as unknown as {
      code: string;
      retryAfter: number;
    };
    expect(err.code).toBe(webApi.ErrorCode.RateLimitedError);
    expect(err.retryAfter).toBe(7);
  });

  it('answers invalid_auth for a wrong token and not_authed for a token inside a JSON body', async () => {
    const wrong = webClient(emulator, {}, 'xoxb-wrong');
    expect((await platformError(wrong.chat.postMessage({ channel: CHANNEL, text: 'hi' }))).data.error).toBe(
      'invalid_auth',
    );
    // Slack reads the token of a JSON body only from the Authorization header.
    const json = await fetch(`${emulator.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: emulator.token, channel: CHANNEL, text: 'hi' }),
    });
    expect(await json.json()).toEqual({ ok: false, error: 'not_authed' });
    const form = await fetch(`${emulator.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: emulator.token, channel: CHANNEL, text: 'hi' }).toString(),
    });
    expect(await form.json()).toMatchObject({ ok: true, channel: CHANNEL });
    expect(emulator.messages).toHaveLength(1);
  });

  it('accepts a JSON body with blocks as an array and the token in the Authorization header', async () => {
    const res = await fetch(`${emulator.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        authorization: `Bearer ${emulator.token}`,
      },
      body: JSON.stringify({ channel: CHANNEL, text: 'json', blocks: [section('*json*')] }),
    });
    expect(await res.json()).toMatchObject({ ok: true, message: { blocks: [section('*json*')] } });
    const tooMany = await fetch(`${emulator.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${emulator.token}` },
      body: JSON.stringify({
        channel: CHANNEL,
        blocks: Array.from({ length: 51 }, () => ({ type: 'divider' })),
      }),
    });
    expect(await tooMany.json()).toMatchObject({ ok: false, error: 'invalid_blocks' });
  });
});

describe('Slack emulator with a real Bolt App', () => {
  let emulator: SlackEmulator;
  let app: App;
  let boltUrl: string;
  const commands: SlashCommand[] = [];
  const clicks: Array<{ user: string; value: string | undefined; message_ts: string | undefined }> = [];

  beforeAll(async () => {
    emulator = await startSlackEmulator();
    app = new App({
      token: emulator.token,
      signingSecret: SECRET,
      logger: quietLogger(),
      clientOptions: { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } },
    });
    app.command('/rea', async ({ command, ack, client }) => {
      commands.push(command);
      await ack({ response_type: 'ephemeral', text: 'Planning...' });
      await client.chat.postMessage({
        channel: command.channel_id,
        text: `Plan for: ${command.text}`,
        blocks: [section(`*Plan* for ${command.text}`), approveButtons('7')],
      });
    });
    app.action('approve', async ({ ack, body, action, respond }) => {
      await ack();
      if (body.type !== 'block_actions' || action.type !== 'button') return;
      clicks.push({ user: body.user.id, value: action.value, message_ts: body.message?.ts });
      await respond({ text: 'Approved by you', response_type: 'ephemeral' });
    });
    app.action('reject', async ({ ack, respond }) => {
      await ack();
      await respond({ replace_original: true, text: 'Rejected', blocks: [section('*Plan* rejected')] });
    });
    const server = await app.start({ port: 0, host: '127.0.0.1' });
    boltUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });
  afterAll(async () => {
    await app.stop();
    await emulator.close();
  });

  it('delivers a signed /rea command to the handler, which acks within the request and posts', async () => {
    const body = slashCommandBody({
      emulator,
      text: 'plan ctr-model',
      user_id: 'U0ALICE',
      channel_id: CHANNEL,
    });
    const res = await postToBolt(boltUrl, body, { secret: SECRET });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ response_type: 'ephemeral', text: 'Planning...' });
    expect(commands.at(-1)).toMatchObject({ command: '/rea', text: 'plan ctr-model', user_id: 'U0ALICE' });
    const posted = await emulator.waitFor(() => emulator.latest(CHANNEL));
    expect(posted.text).toBe('Plan for: plan ctr-model');
    // Bolt verified its token against the emulator when the App was built.
    expect(emulator.calls.some((c) => c.method === 'auth.test')).toBe(true);
  });

  it('refuses a bad signature and a six-minute-old timestamp with 401, reaching no handler', async () => {
    const before = commands.length;
    const body = slashCommandBody({ emulator, text: 'status', user_id: 'U0ALICE', channel_id: CHANNEL });
    expect((await postToBolt(boltUrl, body, { secret: SECRET, badSignature: true })).status).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    expect((await postToBolt(boltUrl, body, { secret: SECRET, timestamp: stale })).status).toBe(401);
    expect((await postToBolt(boltUrl, body, { secret: 'another-secret' })).status).toBe(401);
    expect(commands.length).toBe(before);
  });

  it('delivers a signed block action to its handler, whose response_url reply is recorded', async () => {
    const client = webClient(emulator);
    const { ts } = await client.chat.postMessage({
      channel: CHANNEL,
      text: 'Plan 9',
      blocks: [section('*Plan 9*'), approveButtons('9')],
    });
    const body = blockActionBody({
      emulator,
      action_id: 'approve',
      user: 'U0ALICE',
      channel: CHANNEL,
      message_ts: ts!,
    });
    expect(JSON.parse(new URLSearchParams(body).get('payload')!)).toMatchObject({
      type: 'block_actions',
      actions: [{ action_id: 'approve', block_id: 'plan-9-decision', value: 'plan:9' }],
      container: { type: 'message', message_ts: ts, channel_id: CHANNEL },
    });

    const res = await postToBolt(boltUrl, body, { secret: SECRET });
    expect(res.status).toBe(200);
    expect(clicks.at(-1)).toEqual({ user: 'U0ALICE', value: 'plan:9', message_ts: ts });
    const response = await emulator.waitFor(() => emulator.responses.at(-1));
    expect(response.body).toMatchObject({ text: 'Approved by you' });
    expect(emulator.ephemerals.at(-1)).toMatchObject({
      user: 'U0ALICE',
      channel: CHANNEL,
      via: 'response_url',
    });
  });

  it('lets a block action replace the original message through its response_url', async () => {
    const client = webClient(emulator);
    const { ts } = await client.chat.postMessage({
      channel: CHANNEL,
      text: 'Plan 10',
      blocks: [approveButtons('10')],
    });
    const body = blockActionBody({
      emulator,
      action_id: 'reject',
      user: 'U0ALICE',
      channel: CHANNEL,
      message_ts: ts!,
    });
    expect((await postToBolt(boltUrl, body, { secret: SECRET })).status).toBe(200);
    const replaced = await emulator.waitFor(() => emulator.message(CHANNEL, ts!)?.updates.at(-1));
    expect(replaced.text).toBe('Rejected');
    expect(emulator.message(CHANNEL, ts!)?.original.text).toBe('Plan 10');
  });

  it('signs the way Bolt verifies: v0= HMAC-SHA256 of v0:timestamp:body', () => {
    // The value from Slack's own "Verifying requests from Slack" walkthrough.
    const headers = signSlackRequest(
      '8f742231b10e8888abcd99yyyzzz85a5',
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
      1531420618,
    );
    expect(headers['x-slack-signature']).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });
});
