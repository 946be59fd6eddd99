import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

// A fake Anthropic Messages API (POST /v1/messages) on a real HTTP server, for the SDK's baseURL. It checks
// what the API itself checks (an API key, anthropic-version, a well-formed body) and answers 400/401 like the
// API when those are wrong; it records every request so tests can assert what rea sent; and it answers by
// script: a JSON answer, raw text, or an error status (429, 529, 500) with the API's error body. Prompt
// caching is emulated: a system prefix ending in a cache_control block is written on first sight and read
// afterwards, so usage reports cache writes and reads as the API would. Token counts are chars / 4.

export type Scripted =
  | { kind: 'json'; value: unknown; stopReason?: 'end_turn' | 'max_tokens' | 'refusal' }
  | { kind: 'text'; text: string }
  | { kind: 'error'; status: number; type?: string; message?: string }
  /** Never answers (until the server closes): for the client's timeout. */
  | { kind: 'hang' };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: MessagesBody;
}

const textBlock = z.object({
  type: z.literal('text'),
  text: z.string(),
  cache_control: z.object({ type: z.literal('ephemeral'), ttl: z.string().optional() }).optional(),
});

const messagesBody = z.object({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  messages: z
    .array(
      z.object({
        role: z.enum(['user', 'assistant']),
        content: z.union([z.string(), z.array(z.object({ type: z.string() }).passthrough())]),
      }),
    )
    .min(1),
  output_config: z
    .object({
      format: z
        .object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) })
        .optional(),
    })
    .optional(),
});

export type MessagesBody = z.infer<typeof messagesBody>;

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export interface FakeAnthropic {
  url: string;
  requests: RecordedRequest[];
  /** Answers for the next requests, in order; when empty, `fallback` answers. */
  script(...answers: Scripted[]): void;
  fallback: Scripted;
  close(): Promise<void>;
}

const tokens = (s: string) => Math.ceil(s.length / 4);

/** The API key a request carries, from x-api-key or `Authorization: Bearer`. */
export function credential(req: Pick<IncomingMessage, 'headers'>): string | undefined {
  const key = req.headers['x-api-key'];
  if (typeof key === 'string') return key;
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
}

export async function startFakeAnthropic(
  opts: { apiKey?: string; retryAfterMs?: number } = {},
): Promise<FakeAnthropic> {
  const apiKey = opts.apiKey ?? 'sk-ant-test-key';
  const queue: Scripted[] = [];
  const requests: RecordedRequest[] = [];
  const cache = new Set<string>();
  const fake: FakeAnthropic = {
    url: '',
    requests,
    script: (...answers) => queue.push(...answers),
    fallback: { kind: 'error', status: 500, message: 'no scripted answer left' },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'request-id': `req_${requests.length}`,
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, message: string, type?: string) => {
    const headers: Record<string, string> =
      status === 429 || status >= 500 ? { 'retry-after-ms': String(opts.retryAfterMs ?? 5) } : {};
    send(
      res,
      status,
      { type: 'error', error: { type: type ?? ERROR_TYPES[status] ?? 'api_error', message } },
      headers,
    );
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/messages') {
      return error(res, 404, `no route ${req.method} ${req.url}`, 'not_found_error');
    }
    // The API takes the key as x-api-key or as a bearer token (the SDK since 1.x sends the latter).
    if (credential(req) !== apiKey) return error(res, 401, 'invalid x-api-key');
    if (!req.headers['anthropic-version']) return error(res, 400, 'anthropic-version header is required');
    let parsed: MessagesBody;
    try {
      const r = messagesBody.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      if (!r.success)
        return error(res, 400, r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      parsed = r.data;
    } catch {
      return error(res, 400, 'body is not JSON');
    }
    requests.push({ method: req.method, path: req.url, headers: req.headers, body: parsed });
    const answer = queue.shift() ?? fake.fallback;
    if (answer.kind === 'hang') return;
    if (answer.kind === 'error') {
      return error(res, answer.status, answer.message ?? `scripted ${answer.status}`, answer.type);
    }
    // Prompt caching: the prefix up to the last system block with cache_control.
    const system =
      typeof parsed.system === 'string'
        ? [{ type: 'text' as const, text: parsed.system }]
        : (parsed.system ?? []);
    const last = system.map((b) => b.cache_control !== undefined).lastIndexOf(true);
    const prefix =
      last >= 0
        ? system
            .slice(0, last + 1)
            .map((b) => b.text)
            .join('\u0000')
        : '';
    const rest = [...system.slice(last + 1).map((b) => b.text), JSON.stringify(parsed.messages)].join('');
    let cacheWrite = 0;
    let cacheRead = 0;
    if (prefix) {
      const key = createHash('sha256').update(`${parsed.model}\u0000${prefix}`).digest('hex');
      if (cache.has(key)) cacheRead = tokens(prefix);
      else {
        cache.add(key);
        cacheWrite = tokens(prefix);
      }
    }
    const text = answer.kind === 'json' ? JSON.stringify(answer.value) : answer.text;
    send(res, 200, {
      id: `msg_${requests.length}`,
      type: 'message',
      role: 'assistant',
      model: parsed.model,
      content: [{ type: 'text', text }],
      stop_reason: answer.kind === 'json' ? (answer.stopReason ?? 'end_turn') : 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: tokens(rest),
        output_tokens: tokens(text),
        cache_creation_input_tokens: cacheWrite,
        cache_read_input_tokens: cacheRead,
      },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
