import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BLOCK_KIT_LIMITS, isObject, parseBlocksArg, validateBlocks } from './block-kit.ts';

// A fake Slack Web API that the real WebClient (and so Bolt's `client`) talks to through `slackApiUrl`.
// It is an HTTP server on 127.0.0.1 because the point is to exercise the client's real request path: URL
// building (`slackApiUrl` + method), form encoding with `blocks` as a JSON string, the Authorization header,
// `ok: false` -> platform error, and HTTP 429 + Retry-After -> the client's own pause-and-retry.

export interface SlackChannel {
  id: string;
  name: string;
}

export interface SlackUser {
  id: string;
  name: string;
  realName?: string;
}

export interface SlackEmulatorOptions {
  token?: string;
  channels?: SlackChannel[];
  users?: SlackUser[];
  /** Usergroup id (S...) -> member user ids, served by usergroups.users.list and usergroups.list. */
  usergroups?: Record<string, string[]>;
}

export interface MessageVersion {
  text: string;
  blocks?: unknown[];
}

export interface RecordedMessage {
  channel: string;
  ts: string;
  /** The parent's ts for a thread reply; absent for a top-level message. */
  thread_ts?: string;
  text: string;
  blocks?: unknown[];
  /** The bot user that posted it (every message here is posted with the bot token). */
  user: string;
  bot_id: string;
  /** Ids of files shared with this message (files.completeUploadExternal). */
  files?: string[];
  /** Content as first posted; `text`/`blocks` above are the current content. */
  original: MessageVersion;
  /** Each chat.update (or response_url replace_original) applied, oldest first, with the content it set. */
  updates: MessageVersion[];
  deleted: boolean;
}

export interface RecordedEphemeral {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  message_ts: string;
  via: 'chat.postEphemeral' | 'response_url';
}

export interface RecordedFile {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  /** The bytes the client POSTed to the upload URL. */
  bytes: Buffer;
  /** The `length` declared to files.getUploadURLExternal (Slack expects it to match the bytes). */
  declaredLength: number;
  channel?: string;
  thread_ts?: string;
  initial_comment?: string;
  alt_text?: string;
}

export interface RecordedCall {
  method: string;
  /** Arguments as received, JSON-string fields (blocks, files, ...) decoded; the token left out. */
  args: Record<string, unknown>;
  /** How the client encoded them (WebClient: application/x-www-form-urlencoded). */
  contentType: string;
  status: number;
  result: Record<string, unknown>;
}

/** Where a response_url posts to: the channel, the person who acted and, for block actions, their message. */
export interface ResponseUrlContext {
  channel?: string;
  user?: string;
  message_ts?: string;
  thread_ts?: string;
}

export interface RecordedResponse {
  id: string;
  url: string;
  body: Record<string, unknown>;
  status: number;
  context: ResponseUrlContext;
}

export interface SlackEmulator {
  /** http://127.0.0.1:PORT (no trailing slash). */
  readonly url: string;
  /** `${url}/api/` — what WebClient's `slackApiUrl` expects (it appends the method name). */
  readonly apiUrl: string;
  readonly token: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly channels: readonly SlackChannel[];
  readonly users: readonly SlackUser[];
  readonly messages: RecordedMessage[];
  readonly ephemerals: RecordedEphemeral[];
  readonly files: RecordedFile[];
  readonly calls: RecordedCall[];
  readonly responses: RecordedResponse[];
  /** The parent message followed by its replies, in order; empty when `ts` names no message. */
  thread(channel: string, ts: string): RecordedMessage[];
  /** The most recent message posted in the channel (top-level or reply), by id or name. */
  latest(channel: string, opts?: { topLevel?: boolean }): RecordedMessage | undefined;
  message(channel: string, ts: string): RecordedMessage | undefined;
  /** The next call of `method` answers `{ ok: false, error }` (HTTP 200) without side effects. Stacks. */
  failNext(method: string, error: string): void;
  /** The next call of `method` answers HTTP 429 with `Retry-After: retryAfterSec`. Stacks. */
  rateLimitNext(method: string, retryAfterSec: number): void;
  /** A fresh response_url on this emulator; what is posted to it is recorded in `responses`. */
  newResponseUrl(context?: ResponseUrlContext): string;
  /** Polls `probe` until it returns something other than undefined/false (handlers run after ack). */
  waitFor<T>(probe: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  /** Forgets every record and queued fault; channels, users and usergroups stay. */
  reset(): void;
  close(): Promise<void>;
}

type Args = Record<string, unknown>;
type Result = Record<string, unknown> & { ok: boolean };

interface Fault {
  kind: 'error' | 'ratelimit';
  error?: string;
  retryAfterSec?: number;
}

interface PendingUpload {
  id: string;
  filename: string;
  declaredLength: number;
  alt_text?: string;
  bytes?: Buffer;
}

interface ResponseUrlState {
  context: ResponseUrlContext;
  uses: number;
}

export const SLACK_EMULATOR_DEFAULTS = {
  token: 'xoxb-emulator-token',
  teamId: 'T0REATEST',
  teamDomain: 'rea-test',
  botUserId: 'U0REABOT',
  botId: 'B0REABOT',
  appId: 'A0REAAPP',
  channels: [
    { id: 'C0EXPERIMENTS', name: 'experiments' },
    { id: 'C0RANKING', name: 'ranking' },
  ] as SlackChannel[],
  users: [
    { id: 'U0ALICE', name: 'alice', realName: 'Alice Approver' },
    { id: 'U0BOB', name: 'bob', realName: 'Bob Bystander' },
  ] as SlackUser[],
  usergroups: { S0APPROVERS: ['U0ALICE'] } as Record<string, string[]>,
} as const;

/** Slack allows a response_url five uses within 30 minutes; the emulator enforces the count. */
const RESPONSE_URL_MAX_USES = 5;

// Fields that WebClient JSON-stringifies inside a form body; decoded for the call log.
const JSON_FIELDS = new Set(['blocks', 'attachments', 'files', 'metadata']);

const MIME_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  txt: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
  pdf: 'application/pdf',
};

export async function startSlackEmulator(opts: SlackEmulatorOptions = {}): Promise<SlackEmulator> {
  const emulator = new SlackEmulatorServer(opts);
  await emulator.listen();
  return emulator;
}

class SlackEmulatorServer implements SlackEmulator {
  url = '';
  apiUrl = '';
  readonly token: string;
  readonly teamId = SLACK_EMULATOR_DEFAULTS.teamId;
  readonly botUserId = SLACK_EMULATOR_DEFAULTS.botUserId;
  readonly botId = SLACK_EMULATOR_DEFAULTS.botId;
  readonly channels: SlackChannel[];
  readonly users: SlackUser[];
  readonly messages: RecordedMessage[] = [];
  readonly ephemerals: RecordedEphemeral[] = [];
  readonly files: RecordedFile[] = [];
  readonly calls: RecordedCall[] = [];
  readonly responses: RecordedResponse[] = [];

  private readonly usergroups: Record<string, string[]>;
  private readonly server: Server;
  private readonly faults = new Map<string, Fault[]>();
  private readonly uploads = new Map<string, PendingUpload>();
  private readonly responseUrls = new Map<string, ResponseUrlState>();
  private readonly epochSec = Math.floor(Date.now() / 1000);
  private seq = 0;
  private fileSeq = 0;

  private readonly handlers: Record<string, (args: Args) => Result> = {
    'api.test': (args) => ({ ok: true, args }),
    'auth.test': () => this.authTest(),
    'chat.postMessage': (args) => this.postMessage(args),
    'chat.update': (args) => this.update(args),
    'chat.delete': (args) => this.deleteMessage(args),
    'chat.postEphemeral': (args) => this.postEphemeral(args),
    'chat.getPermalink': (args) => this.getPermalink(args),
    'conversations.info': (args) => this.conversationsInfo(args),
    'conversations.list': (args) => this.conversationsList(args),
    'conversations.replies': (args) => this.conversationsReplies(args),
    'users.info': (args) => this.usersInfo(args),
    'usergroups.list': () => this.usergroupsList(),
    'usergroups.users.list': (args) => this.usergroupsUsersList(args),
    'files.getUploadURLExternal': (args) => this.getUploadUrlExternal(args),
    'files.completeUploadExternal': (args) => this.completeUploadExternal(args),
  };

  constructor(opts: SlackEmulatorOptions) {
    this.token = opts.token ?? SLACK_EMULATOR_DEFAULTS.token;
    this.channels = [...(opts.channels ?? SLACK_EMULATOR_DEFAULTS.channels)];
    this.users = [...(opts.users ?? SLACK_EMULATOR_DEFAULTS.users)];
    this.usergroups = { ...(opts.usergroups ?? SLACK_EMULATOR_DEFAULTS.usergroups) };
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { ok: false, error: 'fatal_error', detail: String(err) });
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.url}/api/`;
  }

  close(): Promise<void> {
    // Bolt and WebClient keep connections alive; without this close() would wait for them to idle out.
    this.server.closeAllConnections();
    return new Promise((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  // ---------------------------------------------------------------- test-facing helpers

  thread(channel: string, ts: string): RecordedMessage[] {
    const id = this.resolveChannel(channel)?.id ?? channel;
    const parent = this.message(id, ts);
    if (!parent) return [];
    const replies = this.messages.filter((m) => m.channel === id && m.thread_ts === ts && m.ts !== ts);
    return [parent, ...replies.sort((a, b) => compareTs(a.ts, b.ts))];
  }

  latest(channel: string, opts: { topLevel?: boolean } = {}): RecordedMessage | undefined {
    const id = this.resolveChannel(channel)?.id ?? channel;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i]!;
      if (m.channel !== id || m.deleted) continue;
      if (opts.topLevel && m.thread_ts !== undefined) continue;
      return m;
    }
    return undefined;
  }

  message(channel: string, ts: string): RecordedMessage | undefined {
    const id = this.resolveChannel(channel)?.id ?? channel;
    return this.messages.find((m) => m.channel === id && m.ts === ts);
  }

  failNext(method: string, error: string): void {
    this.enqueueFault(method, { kind: 'error', error });
  }

  rateLimitNext(method: string, retryAfterSec: number): void {
    this.enqueueFault(method, { kind: 'ratelimit', retryAfterSec });
  }

  newResponseUrl(context: ResponseUrlContext = {}): string {
    const id = randomBytes(8).toString('hex');
    this.responseUrls.set(id, { context, uses: 0 });
    return `${this.url}/commands/${this.teamId}/${id}`;
  }

  async waitFor<T>(probe: () => T | undefined | false, timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`slack emulator: condition not met within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  reset(): void {
    for (const list of [this.messages, this.ephemerals, this.files, this.calls, this.responses])
      list.length = 0;
    this.faults.clear();
    this.uploads.clear();
    this.responseUrls.clear();
  }

  // ---------------------------------------------------------------- HTTP routing

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const body = await readBody(req);
    if (url.pathname.startsWith('/api/')) {
      await this.api(url.pathname.slice('/api/'.length), url, req, body, res);
      return;
    }
    const upload = /^\/upload\/v1\/([A-Z0-9]+)$/.exec(url.pathname);
    if (upload && req.method === 'POST') {
      await this.receiveUpload(upload[1]!, req, body, res);
      return;
    }
    const response = /^\/commands\/[A-Z0-9]+\/([0-9a-f]+)$/.exec(url.pathname);
    if (response && req.method === 'POST') {
      this.receiveResponse(response[1]!, url, body, res);
      return;
    }
    sendJson(res, 404, { ok: false, error: 'not_found' });
  }

  private async api(
    method: string,
    url: URL,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const parsed = await parseArgs(req, url, body);
    const args = parsed.args;
    const logged = decodeForLog(args);
    const answer = (status: number, result: Result, headers: Record<string, string> = {}) => {
      const contentType = req.headers['content-type'] ?? '';
      this.calls.push({ method, args: logged, contentType, status, result });
      sendJson(res, status, result, headers);
    };
    if (parsed.error) return answer(200, { ok: false, error: parsed.error });

    // Slack: a JSON body must carry the token in the Authorization header; a `token` field is only read from
    // form-encoded (or query-string) arguments.
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token =
      bearer ?? (parsed.json ? undefined : typeof args.token === 'string' ? args.token : undefined);
    if (token === undefined) return answer(200, { ok: false, error: 'not_authed' });
    if (token !== this.token) return answer(200, { ok: false, error: 'invalid_auth' });

    const handler = this.handlers[method];
    if (!handler) return answer(200, { ok: false, error: 'unknown_method', req_method: method });

    const fault = this.faults.get(method)?.shift();
    if (fault?.kind === 'ratelimit') {
      const retryAfter = String(fault.retryAfterSec ?? 1);
      return answer(429, { ok: false, error: 'ratelimited' }, { 'retry-after': retryAfter });
    }
    if (fault?.kind === 'error') return answer(200, { ok: false, error: fault.error ?? 'internal_error' });

    answer(200, handler(args));
  }

  private enqueueFault(method: string, fault: Fault): void {
    const queue = this.faults.get(method) ?? [];
    queue.push(fault);
    this.faults.set(method, queue);
  }

  // ---------------------------------------------------------------- Web API methods

  private authTest(): Result {
    return {
      ok: true,
      url: `https://${SLACK_EMULATOR_DEFAULTS.teamDomain}.slack.com/`,
      team: SLACK_EMULATOR_DEFAULTS.teamDomain,
      user: 'rea',
      team_id: this.teamId,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    };
  }

  private postMessage(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel));
    if (!channel) return fail('channel_not_found');
    const content = this.readContent(args, true);
    if ('error' in content) return content.error;
    let threadTs = str(args.thread_ts);
    if (threadTs !== undefined) {
      const parent = this.message(channel.id, threadTs);
      if (!parent) return fail('thread_not_found');
      // A reply to a reply joins the parent's thread, as in Slack (threads are one level deep).
      threadTs = parent.thread_ts ?? parent.ts;
    }
    const message = this.record(channel.id, content.text, content.blocks, threadTs);
    return { ok: true, channel: channel.id, ts: message.ts, message: this.view(message) };
  }

  private update(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel));
    if (!channel) return fail('channel_not_found');
    const message = this.message(channel.id, str(args.ts) ?? '');
    if (!message || message.deleted) return fail('message_not_found');
    if (args.text === undefined && args.blocks === undefined && args.attachments === undefined) {
      return fail('no_text');
    }
    const content = this.readContent(args, false);
    if ('error' in content) return content.error;
    // chat.update keeps the previous blocks when `blocks` is omitted; an empty array removes them.
    const next: MessageVersion = {
      text: args.text === undefined ? message.text : content.text,
      blocks: content.blocks ?? message.blocks,
    };
    applyVersion(message, next);
    return { ok: true, channel: channel.id, ts: message.ts, text: message.text, message: this.view(message) };
  }

  private deleteMessage(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel));
    if (!channel) return fail('channel_not_found');
    const message = this.message(channel.id, str(args.ts) ?? '');
    if (!message || message.deleted) return fail('message_not_found');
    message.deleted = true;
    return { ok: true, channel: channel.id, ts: message.ts };
  }

  private postEphemeral(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel));
    if (!channel) return fail('channel_not_found');
    const user = str(args.user);
    if (!user || !this.findUser(user)) return fail('user_not_in_channel');
    const content = this.readContent(args, true);
    if ('error' in content) return content.error;
    const messageTs = this.nextTs();
    this.ephemerals.push({
      channel: channel.id,
      user,
      text: content.text,
      ...(content.blocks ? { blocks: content.blocks } : {}),
      ...(str(args.thread_ts) ? { thread_ts: str(args.thread_ts) } : {}),
      message_ts: messageTs,
      via: 'chat.postEphemeral',
    });
    return { ok: true, message_ts: messageTs };
  }

  private getPermalink(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel));
    if (!channel) return fail('channel_not_found');
    const message = this.message(channel.id, str(args.message_ts) ?? '');
    if (!message) return fail('message_not_found');
    const base = `https://${SLACK_EMULATOR_DEFAULTS.teamDomain}.slack.com/archives/${channel.id}/p${message.ts.replace('.', '')}`;
    const permalink = message.thread_ts ? `${base}?thread_ts=${message.thread_ts}&cid=${channel.id}` : base;
    return { ok: true, channel: channel.id, permalink };
  }

  private conversationsInfo(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel), { idOnly: true });
    if (!channel) return fail('channel_not_found');
    return { ok: true, channel: this.channelView(channel) };
  }

  private conversationsList(args: Args): Result {
    const page = paginate(this.channels, args);
    return {
      ok: true,
      channels: page.items.map((c) => this.channelView(c)),
      response_metadata: { next_cursor: page.nextCursor },
    };
  }

  private conversationsReplies(args: Args): Result {
    const channel = this.resolveChannel(str(args.channel), { idOnly: true });
    if (!channel) return fail('channel_not_found');
    const target = this.message(channel.id, str(args.ts) ?? '');
    if (!target || target.deleted) return fail('thread_not_found');
    const thread = this.thread(channel.id, target.thread_ts ?? target.ts).filter((m) => !m.deleted);
    const page = paginate(thread, args);
    return {
      ok: true,
      messages: page.items.map((m) => this.view(m)),
      has_more: page.nextCursor !== '',
      response_metadata: { next_cursor: page.nextCursor },
    };
  }

  private usersInfo(args: Args): Result {
    const user = this.findUser(str(args.user) ?? '');
    if (!user) return fail('user_not_found');
    const realName = user.realName ?? user.name;
    return {
      ok: true,
      user: {
        id: user.id,
        team_id: this.teamId,
        name: user.name,
        real_name: realName,
        deleted: false,
        is_bot: false,
        is_admin: false,
        tz: 'UTC',
        profile: { real_name: realName, display_name: user.name, team: this.teamId },
      },
    };
  }

  private usergroupsList(): Result {
    return {
      ok: true,
      usergroups: Object.entries(this.usergroups).map(([id, users]) => ({
        id,
        team_id: this.teamId,
        handle: id.toLowerCase(),
        name: id,
        user_count: users.length,
      })),
    };
  }

  private usergroupsUsersList(args: Args): Result {
    const users = this.usergroups[str(args.usergroup) ?? ''];
    if (!users) return fail('no_such_subteam');
    return { ok: true, users: [...users] };
  }

  private getUploadUrlExternal(args: Args): Result {
    const filename = str(args.filename);
    const length = Number(str(args.length));
    if (!filename || !Number.isInteger(length) || length <= 0) return fail('invalid_arguments');
    this.fileSeq++;
    const id = `F0EMU${String(this.fileSeq).padStart(6, '0')}`;
    const altText = str(args.alt_text);
    this.uploads.set(id, { id, filename, declaredLength: length, ...(altText ? { alt_text: altText } : {}) });
    return { ok: true, upload_url: `${this.url}/upload/v1/${id}`, file_id: id };
  }

  private completeUploadExternal(args: Args): Result {
    const files = parseJsonArg(args.files);
    if (!Array.isArray(files) || files.length === 0) return fail('invalid_arguments');
    const channelRef = str(args.channel_id) ?? str(args.channels)?.split(',')[0];
    const channel = channelRef === undefined ? undefined : this.resolveChannel(channelRef, { idOnly: true });
    if (channelRef !== undefined && !channel) return fail('channel_not_found');
    let threadTs = str(args.thread_ts);
    if (threadTs !== undefined) {
      if (!channel) return fail('invalid_arguments');
      const parent = this.message(channel.id, threadTs);
      if (!parent) return fail('thread_not_found');
      threadTs = parent.thread_ts ?? parent.ts;
    }
    const completed: Array<{ upload: PendingUpload & { bytes: Buffer }; title: string }> = [];
    for (const entry of files) {
      const upload = isObject(entry) && typeof entry.id === 'string' ? this.uploads.get(entry.id) : undefined;
      if (!upload?.bytes) return fail('file_not_found');
      const title = isObject(entry) && typeof entry.title === 'string' ? entry.title : upload.filename;
      completed.push({ upload: { ...upload, bytes: upload.bytes }, title });
    }
    const initialComment = str(args.initial_comment);
    const recorded = completed.map(({ upload, title }): RecordedFile => {
      this.uploads.delete(upload.id);
      const file: RecordedFile = {
        id: upload.id,
        name: upload.filename,
        title,
        mimetype: mimeType(upload.filename),
        bytes: upload.bytes,
        declaredLength: upload.declaredLength,
        ...(channel ? { channel: channel.id } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(initialComment ? { initial_comment: initialComment } : {}),
        ...(upload.alt_text ? { alt_text: upload.alt_text } : {}),
      };
      this.files.push(file);
      return file;
    });
    // Sharing into a channel shows up as a message carrying the files (in the thread when thread_ts is given),
    // which is where conversations.replies and a person reading the thread see the chart.
    if (channel) {
      const message = this.record(channel.id, initialComment ?? '', undefined, threadTs);
      message.files = recorded.map((f) => f.id);
    }
    return { ok: true, files: recorded.map((f) => this.fileView(f)) };
  }

  // ---------------------------------------------------------------- upload URL and response_url

  private async receiveUpload(
    id: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const upload = this.uploads.get(id);
    if (!upload) {
      sendText(res, 404, 'file_not_found');
      return;
    }
    // WebClient posts the bytes as multipart/form-data (a single file part); a raw body works with Slack too.
    const contentType = req.headers['content-type'] ?? '';
    let bytes = body;
    if (contentType.startsWith('multipart/form-data')) {
      const form = await new Request('http://upload.invalid/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      }).formData();
      const part = [...form.values()].find((v) => typeof v !== 'string');
      if (part === undefined || typeof part === 'string') {
        sendText(res, 400, 'no_file_data');
        return;
      }
      bytes = Buffer.from(await part.arrayBuffer());
    }
    upload.bytes = bytes;
    sendText(res, 200, `OK - ${bytes.length}`);
  }

  private receiveResponse(id: string, url: URL, body: Buffer, res: ServerResponse): void {
    const state = this.responseUrls.get(id);
    let payload: Record<string, unknown> = {};
    let outcome: { status: number; answer: Record<string, unknown> };
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8') || '{}');
      if (isObject(parsed)) payload = parsed;
      outcome = this.applyResponse(state, payload);
    } catch {
      outcome = { status: 400, answer: { ok: false, error: 'invalid_payload' } };
    }
    this.responses.push({
      id,
      url: url.toString(),
      body: payload,
      status: outcome.status,
      context: state?.context ?? {},
    });
    sendJson(res, outcome.status, outcome.answer);
  }

  /** What a post to a response_url does: replace or delete the original, post in channel, or reply ephemerally. */
  private applyResponse(
    state: ResponseUrlState | undefined,
    payload: Record<string, unknown>,
  ): { status: number; answer: Record<string, unknown> } {
    const done = { status: 200, answer: { ok: true } };
    if (!state) return { status: 404, answer: { ok: false, error: 'expired_url' } };
    state.uses++;
    if (state.uses > RESPONSE_URL_MAX_USES) return { status: 404, answer: { ok: false, error: 'used_url' } };

    const ctx = state.context;
    const original = ctx.channel && ctx.message_ts ? this.message(ctx.channel, ctx.message_ts) : undefined;
    if (payload.delete_original === true || payload.delete_original === 'true') {
      if (original) original.deleted = true;
      return done;
    }
    const content = this.readContent(payload, true);
    if ('error' in content) return { status: 400, answer: content.error };
    if (payload.replace_original === true || payload.replace_original === 'true') {
      if (!original) return { status: 404, answer: { ok: false, error: 'message_not_found' } };
      applyVersion(original, { text: content.text, blocks: content.blocks });
      return done;
    }
    const threadTs = str(payload.thread_ts) ?? ctx.thread_ts;
    if (payload.response_type === 'in_channel' && ctx.channel) {
      this.record(ctx.channel, content.text, content.blocks, threadTs);
    } else if (ctx.channel && ctx.user) {
      // Slack's default response_type is ephemeral: only the person who acted sees it.
      this.ephemerals.push({
        channel: ctx.channel,
        user: ctx.user,
        text: content.text,
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        message_ts: this.nextTs(),
        via: 'response_url',
      });
    }
    return done;
  }

  // ---------------------------------------------------------------- shared pieces

  /** Reads and checks `text` and `blocks`, the way Slack does for every method that posts a message. */
  private readContent(
    args: Args,
    requireSomething: boolean,
  ): { text: string; blocks: unknown[] | undefined } | { error: Result } {
    const text = str(args.text) ?? '';
    if (text.length > BLOCK_KIT_LIMITS.messageText) return { error: fail('msg_too_long') };
    const parsed = parseBlocksArg(args.blocks);
    if (!parsed.ok) return { error: fail(parsed.error) };
    if (parsed.blocks) {
      const problems = validateBlocks(parsed.blocks);
      if (problems.length > 0) {
        return {
          error: {
            ok: false,
            error: 'invalid_blocks',
            errors: problems,
            response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
          },
        };
      }
    }
    const hasAttachments = args.attachments !== undefined && args.attachments !== '';
    if (requireSomething && text === '' && !parsed.blocks?.length && !hasAttachments) {
      return { error: fail('no_text') };
    }
    return { text, blocks: parsed.blocks };
  }

  private record(channel: string, text: string, blocks: unknown[] | undefined, threadTs?: string) {
    const message: RecordedMessage = {
      channel,
      ts: this.nextTs(),
      ...(threadTs ? { thread_ts: threadTs } : {}),
      text,
      ...(blocks ? { blocks } : {}),
      user: this.botUserId,
      bot_id: this.botId,
      original: { text, ...(blocks ? { blocks } : {}) },
      updates: [],
      deleted: false,
    };
    this.messages.push(message);
    return message;
  }

  private view(m: RecordedMessage): Record<string, unknown> {
    const replies =
      m.thread_ts === undefined ? this.messages.filter((r) => r.thread_ts === m.ts && !r.deleted) : [];
    const last = replies.at(-1);
    return {
      type: 'message',
      ts: m.ts,
      text: m.text,
      user: m.user,
      bot_id: m.bot_id,
      app_id: SLACK_EMULATOR_DEFAULTS.appId,
      team: this.teamId,
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.thread_ts ? { thread_ts: m.thread_ts, parent_user_id: this.botUserId } : {}),
      ...(last ? { thread_ts: m.ts, reply_count: replies.length, latest_reply: last.ts } : {}),
      ...(m.updates.length > 0 ? { edited: { user: this.botUserId, ts: m.ts } } : {}),
      ...(m.files ? { files: m.files.map((id) => ({ id })) } : {}),
    };
  }

  private channelView(c: SlackChannel): Record<string, unknown> {
    const isDm = c.id.startsWith('D');
    return {
      id: c.id,
      name: c.name,
      name_normalized: c.name,
      is_channel: !isDm,
      is_im: isDm,
      is_private: isDm,
      is_archived: false,
      is_member: true,
      created: this.epochSec,
      context_team_id: this.teamId,
    };
  }

  private fileView(f: RecordedFile): Record<string, unknown> {
    return {
      id: f.id,
      name: f.name,
      title: f.title,
      mimetype: f.mimetype,
      filetype: f.name.split('.').at(-1) ?? 'binary',
      size: f.bytes.length,
      user: this.botUserId,
      channels: f.channel ? [f.channel] : [],
      permalink: `https://${SLACK_EMULATOR_DEFAULTS.teamDomain}.slack.com/files/${this.botUserId}/${f.id}/${f.name}`,
      url_private: `${this.url}/files-pri/${this.teamId}-${f.id}/${f.name}`,
    };
  }

  /**
   * Channel by id (C.../G.../D...), by `#name` or by bare name; a user id addresses the bot's DM with that
   * user, as chat.postMessage allows. `idOnly` is for the conversations.* methods, which take ids only.
   */
  private resolveChannel(ref: string | undefined, opts: { idOnly?: boolean } = {}): SlackChannel | undefined {
    if (!ref) return undefined;
    const byId = this.channels.find((c) => c.id === ref);
    if (byId || opts.idOnly) return byId;
    const name = ref.startsWith('#') ? ref.slice(1) : ref;
    const byName = this.channels.find((c) => c.name === name);
    if (byName) return byName;
    const user = this.findUser(ref);
    if (!user) return undefined;
    const dm = { id: `D${user.id.slice(1)}`, name: user.name };
    this.channels.push(dm);
    return dm;
  }

  private findUser(id: string): SlackUser | undefined {
    return this.users.find((u) => u.id === id);
  }

  /** Slack ts values: "seconds.micro", unique per workspace here and increasing in posting order. */
  private nextTs(): string {
    this.seq++;
    return `${this.epochSec + Math.floor(this.seq / 1_000_000)}.${String(this.seq % 1_000_000).padStart(6, '0')}`;
  }
}

// ------------------------------------------------------------------ module helpers

function fail(error: string): Result {
  return { ok: false, error };
}

function applyVersion(message: RecordedMessage, next: MessageVersion): void {
  message.text = next.text;
  if (next.blocks && next.blocks.length > 0) message.blocks = next.blocks;
  else delete message.blocks;
  message.updates.push({ text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) });
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function parseJsonArg(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function compareTs(a: string, b: string): number {
  return Number(a) - Number(b) || a.localeCompare(b);
}

function mimeType(filename: string): string {
  return MIME_TYPES[filename.split('.').at(-1)?.toLowerCase() ?? ''] ?? 'application/octet-stream';
}

function paginate<T>(items: T[], args: Args): { items: T[]; nextCursor: string } {
  const limit = Math.max(1, Math.min(1000, Number(str(args.limit) ?? 100) || 100));
  const cursor = str(args.cursor);
  const offset = cursor
    ? Number(Buffer.from(cursor, 'base64').toString('utf8').replace('offset:', '')) || 0
    : 0;
  const page = items.slice(offset, offset + limit);
  const next =
    offset + limit < items.length ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '';
  return { items: page, nextCursor: next };
}

function decodeForLog(args: Args): Args {
  const out: Args = {};
  for (const [key, value] of Object.entries(args)) {
    if (key === 'token') continue;
    out[key] = JSON_FIELDS.has(key) && typeof value === 'string' ? (parseJsonArg(value) ?? value) : value;
  }
  return out;
}

async function parseArgs(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
): Promise<{ args: Args; json: boolean; error?: string }> {
  const args: Args = Object.fromEntries(url.searchParams);
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  if (body.length === 0) return { args, json: false };
  if (contentType.startsWith('application/json')) {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (!isObject(parsed)) return { args, json: true, error: 'invalid_json' };
      return { args: { ...args, ...parsed }, json: true };
    } catch {
      return { args, json: true, error: 'invalid_json' };
    }
  }
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Request('http://api.invalid/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    }).formData();
    for (const [key, value] of form.entries()) args[key] = typeof value === 'string' ? value : '[binary]';
    return { args, json: false };
  }
  for (const [key, value] of new URLSearchParams(body.toString('utf8'))) args[key] = value;
  return { args, json: false };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
