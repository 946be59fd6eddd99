import { createHmac, randomBytes } from 'node:crypto';
import { isObject } from './block-kit.ts';
import { SLACK_EMULATOR_DEFAULTS, type SlackEmulator } from './emulator.ts';

// What Slack itself sends to an app's Request URL: slash commands and interaction payloads, form-encoded and
// signed with the app's signing secret. Bolt's receiver verifies `x-slack-signature` = "v0=" + hex
// HMAC-SHA256(secret, "v0:{timestamp}:{raw body}") and rejects a `x-slack-request-timestamp` more than five
// minutes old (bolt src/receivers/verify-request.ts), so these helpers sign exactly that string.

export interface SlackSignatureHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
}

/** The emulator parts the body builders use: a response_url to hand out, and the message a button sits on. */
type EmulatorView = Pick<SlackEmulator, 'newResponseUrl' | 'message' | 'channels' | 'users' | 'teamId'>;

export function signSlackRequest(
  secret: string,
  rawBody: string,
  timestampSec: number = Math.floor(Date.now() / 1000),
): SlackSignatureHeaders {
  const digest = createHmac('sha256', secret).update(`v0:${timestampSec}:${rawBody}`).digest('hex');
  return { 'x-slack-signature': `v0=${digest}`, 'x-slack-request-timestamp': String(timestampSec) };
}

export interface SlashCommandFields {
  command?: string;
  text?: string;
  user_id: string;
  channel_id: string;
  user_name?: string;
  channel_name?: string;
  team_id?: string;
  team_domain?: string;
  api_app_id?: string;
  trigger_id?: string;
  /** Defaults to a fresh response_url on `emulator` (recorded in `emulator.responses`). */
  response_url?: string;
  emulator?: EmulatorView;
}

/** The application/x-www-form-urlencoded body Slack POSTs for a slash command. */
export function slashCommandBody(fields: SlashCommandFields): string {
  const { emulator } = fields;
  const channelName = fields.channel_name ?? emulator?.channels.find((c) => c.id === fields.channel_id)?.name;
  const userName = fields.user_name ?? emulator?.users.find((u) => u.id === fields.user_id)?.name;
  const responseUrl =
    fields.response_url ??
    emulator?.newResponseUrl({ channel: fields.channel_id, user: fields.user_id }) ??
    'https://hooks.slack.com/commands/T0REATEST/0000000000/unused';
  // Field order follows Slack's own requests; `token` is the deprecated verification token Bolt ignores.
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: fields.team_id ?? emulator?.teamId ?? SLACK_EMULATOR_DEFAULTS.teamId,
    team_domain: fields.team_domain ?? SLACK_EMULATOR_DEFAULTS.teamDomain,
    channel_id: fields.channel_id,
    channel_name: channelName ?? 'unknown',
    user_id: fields.user_id,
    user_name: userName ?? 'unknown',
    command: fields.command ?? '/rea',
    text: fields.text ?? '',
    api_app_id: fields.api_app_id ?? SLACK_EMULATOR_DEFAULTS.appId,
    is_enterprise_install: 'false',
    response_url: responseUrl,
    trigger_id: fields.trigger_id ?? triggerId(),
  }).toString();
}

export interface BlockActionFields {
  action_id: string;
  value?: string;
  /** The user who clicked. */
  user: string;
  channel: string;
  message_ts: string;
  block_id?: string;
  user_name?: string;
  team_id?: string;
  trigger_id?: string;
  response_url?: string;
  /** The message the button is on; defaults to the emulator's record of (channel, message_ts). */
  message?: Record<string, unknown>;
  emulator?: EmulatorView;
}

/** The JSON of a `block_actions` interaction for a button click (what the `payload=` field carries). */
export function blockActionPayload(fields: BlockActionFields): Record<string, unknown> {
  const { emulator } = fields;
  const recorded = emulator?.message(fields.channel, fields.message_ts);
  const message =
    fields.message ?? (recorded ? messageJson(recorded) : { type: 'message', ts: fields.message_ts });
  // Take block_id, label and value from the button as rendered, so a test clicks what the message shows.
  const found = findButton(message.blocks, fields.action_id);
  const teamId = fields.team_id ?? emulator?.teamId ?? SLACK_EMULATOR_DEFAULTS.teamId;
  const userName = fields.user_name ?? emulator?.users.find((u) => u.id === fields.user)?.name ?? 'unknown';
  const channelName = emulator?.channels.find((c) => c.id === fields.channel)?.name ?? 'unknown';
  const responseUrl =
    fields.response_url ??
    emulator?.newResponseUrl({
      channel: fields.channel,
      user: fields.user,
      message_ts: fields.message_ts,
      ...(typeof message.thread_ts === 'string' ? { thread_ts: message.thread_ts } : {}),
    }) ??
    'https://hooks.slack.com/actions/T0REATEST/0000000000/unused';
  const value = fields.value ?? (typeof found?.element.value === 'string' ? found.element.value : undefined);
  return {
    type: 'block_actions',
    user: { id: fields.user, username: userName, name: userName, team_id: teamId },
    api_app_id: SLACK_EMULATOR_DEFAULTS.appId,
    token: 'deprecated-verification-token',
    container: {
      type: 'message',
      message_ts: fields.message_ts,
      channel_id: fields.channel,
      is_ephemeral: false,
      ...(typeof message.thread_ts === 'string' ? { thread_ts: message.thread_ts } : {}),
    },
    trigger_id: fields.trigger_id ?? triggerId(),
    team: { id: teamId, domain: SLACK_EMULATOR_DEFAULTS.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: fields.channel, name: channelName },
    message,
    state: { values: {} },
    response_url: responseUrl,
    actions: [
      {
        type: 'button',
        action_id: fields.action_id,
        block_id: fields.block_id ?? found?.blockId ?? 'actions',
        text: isObject(found?.element.text)
          ? found.element.text
          : { type: 'plain_text', text: fields.action_id },
        ...(value !== undefined ? { value } : {}),
        ...(typeof found?.element.style === 'string' ? { style: found.element.style } : {}),
        action_ts: `${Math.floor(Date.now() / 1000)}.${String(Date.now() % 1000).padStart(6, '0')}`,
      },
    ],
  };
}

/** The form body Slack POSTs for a block action: a single `payload` field holding the JSON. */
export function blockActionBody(fields: BlockActionFields): string {
  return new URLSearchParams({ payload: JSON.stringify(blockActionPayload(fields)) }).toString();
}

export interface PostToBoltOptions {
  secret: string;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
  /** Sign, then corrupt the signature: a well-formed `v0=` header that does not match. */
  badSignature?: boolean;
  /** Bolt compares it verbatim to 'application/x-www-form-urlencoded' to decide how to parse. */
  contentType?: string;
}

export interface BoltResponse {
  status: number;
  body: string;
}

/** POSTs a body to a Bolt receiver URL (e.g. http://127.0.0.1:PORT/slack/events) the way Slack does. */
export async function postToBolt(url: string, body: string, opts: PostToBoltOptions): Promise<BoltResponse> {
  const headers = signSlackRequest(opts.secret, body, opts.timestamp ?? Math.floor(Date.now() / 1000));
  if (opts.badSignature) {
    const sig = headers['x-slack-signature'];
    headers['x-slack-signature'] = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
  }
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  return { status: res.status, body: await res.text() };
}

function triggerId(): string {
  return `${Date.now()}.${Math.floor(Math.random() * 1e12)}.${randomBytes(16).toString('hex')}`;
}

function messageJson(m: NonNullable<ReturnType<SlackEmulator['message']>>): Record<string, unknown> {
  return {
    type: 'message',
    ts: m.ts,
    text: m.text,
    user: m.user,
    bot_id: m.bot_id,
    app_id: SLACK_EMULATOR_DEFAULTS.appId,
    team: SLACK_EMULATOR_DEFAULTS.teamId,
    ...(m.blocks ? { blocks: m.blocks } : {}),
    ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
  };
}

function findButton(
  blocks: unknown,
  actionId: string,
): { blockId: string | undefined; element: Record<string, unknown> } | undefined {
  if (!Array.isArray(blocks)) return undefined;
  for (const block of blocks) {
    if (!isObject(block)) continue;
    const blockId = typeof block.block_id === 'string' ? block.block_id : undefined;
    const candidates = [...(Array.isArray(block.elements) ? block.elements : []), block.accessory];
    for (const element of candidates) {
      if (isObject(element) && element.action_id === actionId) return { blockId, element };
    }
  }
  return undefined;
}
