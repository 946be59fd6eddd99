import { type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ActionsEngine, type Runner, type RunnerOutcome } from './actions-engine.ts';
import {
  type EmulatorServices,
  HttpError,
  type Reply,
  type RouteContext,
  type Routes,
  StorageSigner,
} from './core.ts';
import { GitStore } from './git-store.ts';
import { generateAppKeyPair, publicKeyFromPrivate, verifyAppJwt } from './jwt.ts';
import {
  checkRequest,
  checkResponse,
  GHES_API_PREFIX,
  listOperations,
  matchOperation,
  stripGhesPrefix,
  type Violation,
} from './openapi.ts';
import { actionsRoutes, storageObject } from './routes-actions.ts';
import { accessRoutes, appRoutes } from './routes-apps.ts';
import { checkRoutes } from './routes-checks.ts';
import { commitToBranch, gitRoutes } from './routes-git.ts';
import { createComment, issueRoutes } from './routes-issues.ts';
import { addReview, pullRoutes } from './routes-pulls.ts';
import { type AppInfo, errorBody, isoSeconds, type ShapeContext } from './shapes.ts';
import {
  type AccountType,
  EmulatorState,
  type InstallationRecord,
  type IssueRecord,
  type RepoPermission,
  type RepoRecord,
  type TokenRecord,
} from './state.ts';
import {
  installationPayload,
  issueCommentPayload,
  pullRequestPayload,
  pullRequestReviewPayload,
  type WorkflowRunAction,
  workflowRunPayload,
} from './webhook-payloads.ts';
import { type Delivery, WebhookDispatcher } from './webhooks.ts';

// A GitHub Enterprise Server for tests: Probot and Octokit talk to it over HTTP at
// http://127.0.0.1:PORT/api/v3, exactly as they would to GHES. Every request is matched against GitHub's
// published OpenAPI description and every response checked against it (see openapi.ts); webhooks are
// signed with the app's secret; workflow runs are executed by emulated runners.

export interface GithubEmulatorOptions {
  appId: number;
  /** PEM private key of the app; generated (and exposed as emulator.privateKey) when omitted. */
  privateKey?: string;
  webhookSecret: string;
  /** Where webhooks are POSTed; can be set later (emulator.webhookUrl) once the app listens. */
  webhookUrl?: string;
  /**
   * GitHub Enterprise Server 3.21+ accepts `return_run_details` on workflow dispatch; false emulates
   * 3.20 and older, which answer 400 when it is sent. Default true.
   */
  returnRunDetails?: boolean;
  /** False records webhooks without sending them (missed deliveries, for reconciler tests). Default true. */
  deliverWebhooks?: boolean;
  /** Domain clock for every timestamp in API objects. Default: the real clock. */
  now?: () => Date;
  /** Slug of the app (its bot user is `<slug>[bot]`). Default 'rea'. */
  appSlug?: string;
  /** Organization that owns the app. Default 'rea-dev'. */
  appOwner?: string;
}

export interface AddRepoOptions {
  owner: string;
  repo: string;
  /** Files of the initial commit on the default branch: path -> UTF-8 content. */
  files: Record<string, string>;
  defaultBranch?: string;
  collaborators?: Record<string, RepoPermission>;
  /** 'org/team-slug' -> member logins. */
  teams?: Record<string, string[]>;
  /** Type of the owner account. Default 'Organization'. */
  ownerType?: Exclude<AccountType, 'Bot'>;
}

export interface RepoInfo {
  id: number;
  owner: string;
  repo: string;
  defaultBranch: string;
  /** The installation of the app on the owner (created with the first repo of an owner). */
  installationId: number;
  /** Sha of the initial commit. */
  headSha: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query as sent (with the /api/v3 prefix). */
  path: string;
  status: number;
  operationId?: string;
  durationMs: number;
}

export type ReviewStateInput = 'approved' | 'changes_requested' | 'commented';

const APP_JWT_OPERATIONS = new Set([
  'apps/get-authenticated',
  'apps/list-installations',
  'apps/get-installation',
  'apps/delete-installation',
  'apps/suspend-installation',
  'apps/unsuspend-installation',
  'apps/get-repo-installation',
  'apps/create-installation-access-token',
]);

const REVIEW_STATES = {
  approved: 'APPROVED',
  changes_requested: 'CHANGES_REQUESTED',
  commented: 'COMMENTED',
} as const;

class WorkTracker {
  private readonly pending = new Set<Promise<unknown>>();

  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      () => this.pending.delete(p),
    );
    return p;
  }

  async settle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function storageError(status: number, code: string, message: string): { status: number; xml: string } {
  return {
    status,
    xml: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  };
}

export class GithubEmulator {
  readonly appId: number;
  readonly privateKey: string;
  readonly apiUrl: string;
  /** host:port, for Probot's GHE_HOST (with GHE_PROTOCOL=http). */
  readonly host: string;
  readonly webUrl: string;
  readonly state = new EmulatorState();
  readonly requests: RecordedRequest[] = [];
  readonly violations: Violation[] = [];
  webhookUrl: string | undefined;
  deliverWebhooks: boolean;

  private readonly services: EmulatorServices;
  private readonly shapes: ShapeContext;
  private readonly engine: ActionsEngine;
  private readonly webhooks: WebhookDispatcher;
  private readonly tracker = new WorkTracker();
  private readonly routes: Routes;
  private readonly publicKey: KeyObject;
  private readonly storage: StorageSigner;
  private readonly ghesVersion: string;

  constructor(
    private readonly server: Server,
    port: number,
    opts: GithubEmulatorOptions,
  ) {
    this.appId = opts.appId;
    if (opts.privateKey) {
      this.privateKey = opts.privateKey;
      this.publicKey = publicKeyFromPrivate(opts.privateKey);
    } else {
      const pair = generateAppKeyPair();
      this.privateKey = pair.privateKey;
      this.publicKey = pair.publicKey;
    }
    this.host = `127.0.0.1:${port}`;
    this.webUrl = `http://${this.host}`;
    this.apiUrl = `${this.webUrl}${GHES_API_PREFIX}`;
    this.webhookUrl = opts.webhookUrl;
    this.deliverWebhooks = opts.deliverWebhooks ?? true;
    const returnRunDetails = opts.returnRunDetails ?? true;
    this.ghesVersion = returnRunDetails ? '3.21.0' : '3.20.0';
    const now = opts.now ?? (() => new Date());

    const app: AppInfo = {
      id: opts.appId,
      slug: opts.appSlug ?? 'rea',
      name: opts.appSlug ?? 'rea',
      owner: opts.appOwner ?? 'rea-dev',
      createdAt: isoSeconds(now()),
    };
    this.state.ensureUser(app.owner, 'Organization');
    this.state.ensureUser(`${app.slug}[bot]`, 'Bot');
    this.shapes = { state: this.state, apiUrl: this.apiUrl, webUrl: this.webUrl, app };
    this.storage = new StorageSigner(randomBytes(32).toString('hex'), this.webUrl);
    this.services = { state: this.state, shapes: this.shapes, now, returnRunDetails, storage: this.storage };

    this.webhooks = new WebhookDispatcher({
      secret: opts.webhookSecret,
      url: () => this.webhookUrl,
      enabled: () => this.deliverWebhooks,
      headers: () => ({
        'x-github-hook-id': '1',
        'x-github-hook-installation-target-type': 'integration',
        'x-github-hook-installation-target-id': String(this.appId),
        'x-github-enterprise-host': this.host,
        'x-github-enterprise-version': this.ghesVersion,
      }),
      onViolation: (v) => this.violations.push(v),
      track: (p) => this.tracker.track(p),
    });
    this.engine = new ActionsEngine({
      services: this.services,
      sendWebhook: (event, payload) => void this.webhooks.send(event, payload),
      track: (p) => this.tracker.track(p),
    });
    this.routes = {
      ...appRoutes(this.services),
      ...accessRoutes(this.services),
      ...gitRoutes(this.services),
      ...issueRoutes(this.services),
      ...pullRoutes(this.services),
      ...checkRoutes(this.services),
      ...actionsRoutes(this.services, this.engine),
    };
    // A handler for an operation the description does not have could never be reached; fail loudly.
    const described = new Set(listOperations().map((op) => op.operationId));
    const stray = Object.keys(this.routes).filter((id) => !described.has(id));
    if (stray.length)
      throw new Error(`emulated operations missing from the OpenAPI description: ${stray.join(', ')}`);
    server.on('request', (req, res) => {
      this.tracker.track(this.handle(req, res));
    });
  }

  /** What was sent to the webhook URL (and what the receiver answered), in order. */
  get deliveries(): readonly Delivery[] {
    return this.webhooks.deliveries;
  }

  // -------------------------------------------------------------------------------------------------------
  // Test setup

  /** Creates a repository with an initial commit, and the app's installation on its owner if missing. */
  addRepo(o: AddRepoOptions): RepoInfo {
    const ownerUser = this.state.ensureUser(o.owner, o.ownerType ?? 'Organization');
    const now = isoSeconds(this.services.now());
    let installation = this.state.installationFor(o.owner);
    if (!installation) {
      installation = { id: this.state.nextId('installation'), account: ownerUser.login, createdAt: now };
      this.state.installations.set(installation.id, installation);
    }
    const key = `${o.owner}/${o.repo}`.toLowerCase();
    if (this.state.repos.has(key)) throw new Error(`repository ${o.owner}/${o.repo} already exists`);
    const defaultBranch = o.defaultBranch ?? 'main';
    const repo: RepoRecord = {
      id: this.state.nextId('repo'),
      owner: ownerUser.login,
      name: o.repo,
      defaultBranch,
      git: new GitStore(),
      collaborators: new Map(),
      createdAt: now,
      pushedAt: now,
      issues: new Map(),
      labels: new Map(),
      workflows: new Map(),
      nextIssueNumber: 1,
      nextRunNumber: new Map(),
    };
    this.state.repos.set(key, repo);
    for (const [login, permission] of Object.entries(o.collaborators ?? {})) {
      this.state.ensureUser(login);
      repo.collaborators.set(login.toLowerCase(), permission);
    }
    for (const [team, members] of Object.entries(o.teams ?? {})) {
      const set = this.state.teams.get(team.toLowerCase()) ?? new Set<string>();
      for (const login of members) {
        this.state.ensureUser(login);
        set.add(login.toLowerCase());
      }
      this.state.teams.set(team.toLowerCase(), set);
    }
    const author = {
      name: ownerUser.login,
      email: `${ownerUser.id}+${ownerUser.login}@users.noreply.${new URL(this.webUrl).hostname}`,
      date: now,
    };
    const headSha = commitToBranch(this.services, repo, defaultBranch, o.files, 'Initial commit', author);
    return {
      id: repo.id,
      owner: repo.owner,
      repo: repo.name,
      defaultBranch,
      installationId: installation.id,
      headSha,
    };
  }

  /** Commits files (null deletes) on a branch, creating it from the default branch if needed. */
  commit(o: {
    owner: string;
    repo: string;
    branch?: string;
    files: Record<string, string | null>;
    message?: string;
  }): string {
    const repo = this.repoRecord(o.owner, o.repo);
    const branch = o.branch ?? repo.defaultBranch;
    if (!repo.git.refs.has(`heads/${branch}`)) {
      repo.git.refs.set(`heads/${branch}`, repo.git.refs.get(`heads/${repo.defaultBranch}`)!);
    }
    return commitToBranch(this.services, repo, branch, o.files, o.message ?? 'Update files');
  }

  /** Contents of a file on a ref (default branch when omitted), or undefined. */
  readFile(o: { owner: string; repo: string; path: string; ref?: string }): string | undefined {
    const repo = this.repoRecord(o.owner, o.repo);
    const sha = repo.git.resolve(o.ref ?? repo.defaultBranch);
    const commit = sha ? repo.git.commits.get(sha) : undefined;
    const entry = commit ? repo.git.entryAt(commit.tree, o.path) : undefined;
    return entry?.type === 'blob' ? repo.git.blobs.get(entry.sha)?.toString('utf8') : undefined;
  }

  installationId(owner: string): number {
    const inst = this.state.installationFor(owner);
    if (!inst) throw new Error(`the app is not installed on ${owner}`);
    return inst.id;
  }

  /** Sets how queued workflow runs are executed; runs queued before a runner existed start now. */
  setRunner(runner: Runner | undefined): void {
    this.engine.setRunner(runner);
  }

  /** Completes an in-progress (e.g. stuck) run as if its runner had reported `outcome`. */
  finishRun(runId: number, outcome: RunnerOutcome): void {
    this.engine.finish(runId, outcome);
  }

  private repoRecord(owner: string, name: string): RepoRecord {
    const repo = this.state.repo(owner, name);
    if (!repo) throw new Error(`no repository ${owner}/${name}`);
    return repo;
  }

  private pullRecord(owner: string, name: string, number: number): { repo: RepoRecord; issue: IssueRecord } {
    const repo = this.repoRecord(owner, name);
    const issue = repo.issues.get(number);
    if (!issue) throw new Error(`no issue or pull request #${number} in ${owner}/${name}`);
    return { repo, issue };
  }

  // -------------------------------------------------------------------------------------------------------
  // Webhooks

  /** Payload builders from the current state; each validates against @octokit/webhooks-schemas. */
  readonly payloads = {
    workflowRun: (o: { run_id: number; action: WorkflowRunAction }) => {
      const run = this.state.runs.get(o.run_id);
      const repo = run && this.state.repoById(run.repoId);
      if (!run || !repo) throw new Error(`no workflow run ${o.run_id}`);
      return workflowRunPayload(this.shapes, repo, run, o.action, run.workflowName);
    },
    pullRequestReview: (o: { owner: string; repo: string; pull_number: number; review_id: number }) => {
      const { repo, issue } = this.pullRecord(o.owner, o.repo, o.pull_number);
      const review = issue.pull?.reviews.find((r) => r.id === o.review_id);
      if (!review) throw new Error(`no review ${o.review_id} on #${o.pull_number}`);
      return pullRequestReviewPayload(this.shapes, repo, issue, review);
    },
    issueComment: (o: { owner: string; repo: string; comment_id: number }) => {
      const repo = this.repoRecord(o.owner, o.repo);
      const comment = this.state.comments.get(o.comment_id);
      const issue = comment && repo.issues.get(comment.issueNumber);
      if (!comment || !issue) throw new Error(`no comment ${o.comment_id}`);
      return issueCommentPayload(this.shapes, repo, issue, comment);
    },
    pullRequest: (o: {
      owner: string;
      repo: string;
      pull_number: number;
      action: 'opened' | 'closed';
      sender?: string;
    }) => {
      const { repo, issue } = this.pullRecord(o.owner, o.repo, o.pull_number);
      if (!issue.pull) throw new Error(`#${o.pull_number} is not a pull request`);
      return pullRequestPayload(this.shapes, repo, issue, o.action, o.sender ?? issue.user);
    },
    installation: (o: { installation_id: number; sender?: string }) => {
      const inst = this.state.installations.get(o.installation_id);
      if (!inst) throw new Error(`no installation ${o.installation_id}`);
      return installationPayload(this.shapes, inst, o.sender ?? inst.account);
    },
  };

  /** Validates (violations on mismatch), signs and POSTs a webhook; resolves once delivered or dropped. */
  sendWebhook(name: string, payload: Record<string, unknown>): Promise<Delivery> {
    return this.webhooks.send(name, payload);
  }

  /** Sends a recorded delivery again, with the same delivery id. */
  redeliver(deliveryId: string): Promise<Delivery> {
    return this.webhooks.redeliver(deliveryId);
  }

  /** A person reviews a pull request: the review is recorded and `pull_request_review.submitted` sent. */
  submitReview(o: {
    owner: string;
    repo: string;
    pull_number: number;
    user: string;
    state: ReviewStateInput;
    body?: string;
  }): Promise<Delivery> {
    const { repo, issue } = this.pullRecord(o.owner, o.repo, o.pull_number);
    if (!issue.pull) throw new Error(`#${o.pull_number} is not a pull request`);
    const review = addReview(this.services, repo, issue, o.user, REVIEW_STATES[o.state], o.body ?? '');
    return this.sendWebhook(
      'pull_request_review',
      pullRequestReviewPayload(this.shapes, repo, issue, review),
    );
  }

  /** A person comments on an issue or pull request: recorded, and `issue_comment.created` sent. */
  comment(o: {
    owner: string;
    repo: string;
    issue_number: number;
    user: string;
    body: string;
  }): Promise<Delivery> {
    const { repo, issue } = this.pullRecord(o.owner, o.repo, o.issue_number);
    const comment = createComment(this.services, repo, issue, o.user, o.body);
    return this.sendWebhook('issue_comment', issueCommentPayload(this.shapes, repo, issue, comment));
  }

  // -------------------------------------------------------------------------------------------------------
  // Lifecycle

  /** Resolves when no emulated run is being executed, no webhook is in flight and no request is open. */
  settle(): Promise<void> {
    return this.tracker.settle();
  }

  async close(): Promise<void> {
    for (const run of this.state.runs.values()) for (const a of run.attempts) a.abort.abort();
    this.deliverWebhooks = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    await this.tracker.settle();
  }

  // -------------------------------------------------------------------------------------------------------
  // HTTP

  private violation(v: Violation): void {
    this.violations.push(v);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', this.webUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    let status = 500;
    let operationId: string | undefined;
    try {
      const raw = await readBody(req);
      if (url.pathname.startsWith('/storage/')) {
        status = this.serveStorage(req, res, url, method);
        return;
      }
      const result = await this.api(req, url, method, raw);
      operationId = result.operationId;
      status = result.reply.status;
      this.send(res, result.reply, method === 'HEAD');
    } catch (e) {
      // An emulator bug: answer 500 and make it a violation so the test cannot pass over it.
      const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
      this.violation({
        method,
        path: url.pathname,
        where: 'response',
        message: `emulator error: ${message}`,
      });
      status = 500;
      if (!res.headersSent) this.send(res, { status, body: errorBody('Emulator error', 500) }, false);
    } finally {
      this.requests.push({
        method,
        path: url.pathname + url.search,
        status,
        ...(operationId ? { operationId } : {}),
        durationMs: Math.round(performance.now() - started),
      });
    }
  }

  private send(res: ServerResponse, reply: Reply, headOnly: boolean): void {
    const headers: Record<string, string> = {
      'x-github-request-id': randomUUID().toUpperCase(),
      'x-github-enterprise-version': this.ghesVersion,
      'x-github-media-type': 'github.v3; format=json',
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const data = Buffer.from(JSON.stringify(reply.body));
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(data.length);
    res.writeHead(reply.status, headers);
    res.end(headOnly ? undefined : data);
  }

  private authenticate(
    req: IncomingMessage,
    operationId: string,
  ): { installation?: InstallationRecord; token?: TokenRecord } | HttpError {
    const header = req.headers.authorization ?? '';
    const m = /^(bearer|token)\s+(\S+)$/i.exec(header.trim());
    if (!m) return new HttpError(401, 'Requires authentication');
    const [, scheme, credential] = m as unknown as [string, string, string];
    if (APP_JWT_OPERATIONS.has(operationId)) {
      if (scheme.toLowerCase() !== 'bearer')
        return new HttpError(401, 'A JSON web token could not be decoded');
      const check = verifyAppJwt(credential, this.publicKey, this.appId, Math.floor(Date.now() / 1000));
      return check.ok ? {} : new HttpError(401, check.reason);
    }
    const token = this.state.tokens.get(credential);
    // Token expiry runs on the real clock, like the JWT: clients sign and cache with the real clock.
    if (!token || Date.parse(token.expiresAt) <= Date.now()) return new HttpError(401, 'Bad credentials');
    return { token, installation: this.state.installations.get(token.installationId) };
  }

  private async api(
    req: IncomingMessage,
    url: URL,
    method: string,
    raw: Buffer,
  ): Promise<{ reply: Reply; operationId?: string }> {
    const apiPath = stripGhesPrefix(url.pathname);
    if (apiPath === undefined) {
      this.violation({
        method,
        path: url.pathname,
        where: 'request',
        message: `not under ${GHES_API_PREFIX}`,
      });
      return { reply: new HttpError(404, 'Not Found').toReply() };
    }
    // GitHub answers HEAD wherever it answers GET.
    const match = matchOperation(method === 'HEAD' ? 'GET' : method, apiPath);
    if (!match) {
      this.violation({
        method,
        path: apiPath,
        where: 'request',
        message: `${method} ${apiPath} matches no operation of the OpenAPI description (test/fixtures/github-api)`,
      });
      return { reply: new HttpError(404, 'Not Found').toReply() };
    }
    const { operationId } = match;
    const at = { method, path: apiPath, operationId };

    const auth = this.authenticate(req, operationId);
    if (auth instanceof HttpError) return { reply: auth.toReply(), operationId };

    let body: unknown;
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        this.violation({ ...at, where: 'request', message: 'request body is not valid JSON' });
        return { reply: new HttpError(400, 'Problems parsing JSON').toReply(), operationId };
      }
    }
    const problems = checkRequest(match, { query: url.searchParams, body });
    if (problems.length) {
      for (const p of problems) this.violation({ ...at, where: 'request', message: p.message });
      // What GitHub answers: 404 for a path that names nothing, 422 for a body or query it rejects.
      const reply = problems.some((p) => p.kind === 'path')
        ? new HttpError(404, 'Not Found').toReply()
        : new HttpError(422, `Invalid request.\n\n${problems.map((p) => p.message).join('\n')}`).toReply();
      return { reply, operationId };
    }

    const handler = this.routes[operationId];
    if (!handler) {
      this.violation({
        ...at,
        where: 'request',
        message: `${operationId} is in the description but not emulated`,
      });
      return { reply: new HttpError(404, 'Not Found').toReply(), operationId };
    }
    const ctx: RouteContext = { url, params: match.params, query: url.searchParams, body, ...auth };
    let reply: Reply;
    try {
      reply = await handler(ctx);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      reply = e.toReply();
    }
    for (const message of checkResponse(match, reply.status, reply.body)) {
      this.violation({ ...at, where: 'response', message });
    }
    return { reply, operationId };
  }

  /** Signed blob-storage URLs: no GitHub token accepted, the signature is the authorisation. */
  private serveStorage(req: IncomingMessage, res: ServerResponse, url: URL, method: string): number {
    const reply = (
      status: number,
      contentType: string,
      data: Uint8Array | string,
      extra: Record<string, string> = {},
    ) => {
      const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
      res.writeHead(status, { 'content-type': contentType, 'content-length': String(buf.length), ...extra });
      res.end(method === 'HEAD' ? undefined : buf);
      return status;
    };
    const fail = (e: { status: number; xml: string }) => reply(e.status, 'application/xml', e.xml);
    // Artifact storage rejects a request that carries the GitHub token, as Azure blob storage does: a client
    // must follow the redirect without the Authorization header.
    if (url.pathname.startsWith('/storage/artifacts/') && req.headers.authorization) {
      return fail(
        storageError(
          400,
          'InvalidAuthenticationInfo',
          'Authentication information is not given in the correct format.',
        ),
      );
    }
    const check = this.storage.verify(url.pathname, url.searchParams);
    if (check === 'bad-signature') {
      return fail(storageError(403, 'AuthenticationFailed', 'Signature did not match.'));
    }
    if (check === 'expired') {
      return fail(storageError(403, 'AuthenticationFailed', 'Signed expiry time has passed.'));
    }
    const object = storageObject(this.services, url.pathname);
    if (!object) return fail(storageError(404, 'BlobNotFound', 'The specified blob does not exist.'));
    const extra: Record<string, string> = object.fileName
      ? { 'content-disposition': `attachment; filename=${object.fileName}` }
      : {};
    return reply(200, object.contentType, object.data, extra);
  }
}

/** Starts an emulator on 127.0.0.1 and a free port. */
export async function startGithubEmulator(opts: GithubEmulatorOptions): Promise<GithubEmulator> {
  const server = createServer({ keepAliveTimeout: 1000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new GithubEmulator(server, port, opts);
}
