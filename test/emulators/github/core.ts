import { createHmac, timingSafeEqual } from 'node:crypto';
import { errorBody, isoSeconds, type ShapeContext } from './shapes.ts';
import type { EmulatorState, InstallationRecord, RepoRecord, TokenRecord } from './state.ts';

// What route handlers share: the request as the router saw it, the reply they return, an error type for
// early exits, and the services of one emulator instance.

export interface Reply {
  status: number;
  /** JSON body; checked against the operation's response schema before it is sent. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** Thrown by handlers to answer with a GitHub-style error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  toReply(): Reply {
    return { status: this.status, body: errorBody(this.message, this.status, this.extra) };
  }
}

export function notFound(): HttpError {
  return new HttpError(404, 'Not Found');
}

/** GitHub's 422 "Validation Failed" with one error entry. */
export function validationFailed(resource: string, field: string, code: string, message?: string): HttpError {
  const error: Record<string, unknown> = { resource, field, code };
  if (message) error.message = message;
  return new HttpError(422, 'Validation Failed', { errors: [error] });
}

export interface RouteContext {
  /** The full request URL (with the /api/v3 prefix and query). */
  url: URL;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (already checked against the operation's request schema), or undefined. */
  body: unknown;
  /** The installation whose token authenticated the request (undefined for app-JWT requests). */
  installation?: InstallationRecord;
  token?: TokenRecord;
}

export type Handler = (c: RouteContext) => Reply | Promise<Reply>;

/** Handlers keyed by the OpenAPI operationId they implement. */
export type Routes = Record<string, Handler>;

export interface EmulatorServices {
  state: EmulatorState;
  shapes: ShapeContext;
  /** The domain clock: every timestamp GitHub would show comes from here. */
  now(): Date;
  returnRunDetails: boolean;
  storage: StorageSigner;
}

export function nowIso(services: EmulatorServices): string {
  return isoSeconds(services.now());
}

/** The repository named by the path, if the authenticating installation may see it (404 otherwise). */
export function repoFor(services: EmulatorServices, c: RouteContext): RepoRecord {
  const repo = services.state.repo(c.params.owner ?? '', c.params.repo ?? '');
  if (!repo) throw notFound();
  if (c.installation && c.installation.account.toLowerCase() !== repo.owner.toLowerCase()) throw notFound();
  return repo;
}

export function intParam(c: RouteContext, name: string): number {
  const n = Number(c.params[name]);
  if (!Number.isInteger(n)) throw notFound();
  return n;
}

/** Slices a list by per_page/page and builds the Link header Octokit's paginate() follows. */
export function paginate<T>(items: T[], c: RouteContext): { items: T[]; headers: Record<string, string> } {
  const perPage = Math.min(100, Math.max(1, Number(c.query.get('per_page')) || 30));
  const page = Math.max(1, Number(c.query.get('page')) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (p: number, rel: string) => {
    const u = new URL(c.url);
    u.searchParams.set('page', String(p));
    u.searchParams.set('per_page', String(perPage));
    return `<${u.toString()}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
  if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length ? { link: links.join(', ') } : {},
  };
}

// ---------------------------------------------------------------------------------------------------------
// Signed storage URLs

/**
 * Signs the short-lived URLs that artifact and log downloads redirect to, like the blob storage links
 * GitHub hands out (valid for a minute, authorised by the query string alone).
 */
export class StorageSigner {
  constructor(
    private readonly secret: string,
    private readonly baseUrl: string,
    private readonly ttlSec = 60,
  ) {}

  private signature(path: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${path}\n${expires}`).digest('hex');
  }

  url(path: string): string {
    const expires = Math.floor(Date.now() / 1000) + this.ttlSec;
    return `${this.baseUrl}${path}?se=${expires}&sig=${this.signature(path, expires)}`;
  }

  verify(path: string, query: URLSearchParams): 'ok' | 'expired' | 'bad-signature' {
    const expires = Number(query.get('se'));
    const sig = query.get('sig') ?? '';
    const expected = this.signature(path, expires);
    if (sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
      return 'bad-signature';
    }
    return expires * 1000 < Date.now() ? 'expired' : 'ok';
  }
}
