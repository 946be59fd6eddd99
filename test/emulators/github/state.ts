import type { GitStore } from './git-store.ts';

// The emulator's in-memory world. Records hold what GitHub would store; the JSON GitHub sends is built
// from them in shapes.ts. Ids of different kinds start in different ranges so that a test mixing up a run
// id and a job id fails instead of passing by accident.

export type RepoPermission = 'admin' | 'write' | 'read';
export type AccountType = 'User' | 'Organization' | 'Bot';

export interface UserRecord {
  login: string;
  id: number;
  type: AccountType;
}

export interface InstallationRecord {
  id: number;
  account: string;
  createdAt: string;
}

export interface TokenRecord {
  token: string;
  installationId: number;
  expiresAt: string;
}

export interface LabelRecord {
  id: number;
  name: string;
  color: string;
  description: string | null;
}

export interface ReviewRecord {
  id: number;
  user: string;
  body: string;
  /** REST form: APPROVED, CHANGES_REQUESTED, COMMENTED, PENDING, DISMISSED. */
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'PENDING' | 'DISMISSED';
  commitId: string;
  submittedAt: string | null;
}

export interface PullRecord {
  id: number;
  head: string;
  base: string;
  draft: boolean;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  reviews: ReviewRecord[];
}

export interface IssueRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  user: string;
  state: 'open' | 'closed';
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  labels: string[];
  commentCount: number;
  pull?: PullRecord;
}

export interface CommentRecord {
  id: number;
  repoId: number;
  issueNumber: number;
  user: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}

export interface CheckRunRecord {
  id: number;
  repoId: number;
  name: string;
  headSha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  checkSuiteId: number;
}

export interface WorkflowRecord {
  id: number;
  path: string;
  createdAt: string;
}

export interface StepRecord {
  name: string;
  number: number;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
}

export interface JobRecord {
  id: number;
  runId: number;
  attempt: number;
  name: string;
  labels: string[];
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  createdAt: string;
  startedAt: string;
  completedAt: string | null;
  steps: StepRecord[];
  log: string;
  runnerName: string | null;
}

export interface ArtifactRecord {
  id: number;
  repoId: number;
  runId: number;
  attempt: number;
  name: string;
  zip: Uint8Array;
  digest: string;
  createdAt: string;
  expiresAt: string;
}

export type RunStatus = 'queued' | 'in_progress' | 'completed';

export interface AttemptRecord {
  number: number;
  status: RunStatus;
  conclusion: string | null;
  createdAt: string;
  startedAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** Measured or reported run time, for the timing endpoint. */
  durationMs: number;
  jobIds: number[];
  artifactIds: number[];
  checkSuiteId: number;
  /** A stuck attempt never completes on its own (timeout tests); settle() does not wait for it. */
  stuck: boolean;
  abort: AbortController;
}

export interface WorkflowRunRecord {
  id: number;
  repoId: number;
  workflowId: number;
  workflowPath: string;
  workflowName: string;
  runNumber: number;
  event: string;
  headBranch: string;
  headSha: string;
  displayTitle: string;
  inputs: Record<string, string>;
  actor: string;
  createdAt: string;
  attempts: AttemptRecord[];
}

export interface RepoRecord {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  git: GitStore;
  collaborators: Map<string, RepoPermission>;
  createdAt: string;
  pushedAt: string;
  issues: Map<number, IssueRecord>;
  labels: Map<string, LabelRecord>;
  workflows: Map<string, WorkflowRecord>;
  nextIssueNumber: number;
  nextRunNumber: Map<number, number>;
}

const ID_BASES = {
  user: 1_000,
  installation: 40_000,
  repo: 100_000,
  issue: 200_000,
  pull: 300_000,
  comment: 400_000,
  review: 500_000,
  label: 600_000,
  checkRun: 700_000,
  checkSuite: 800_000,
  workflow: 900_000,
  run: 10_000_000,
  job: 20_000_000,
  artifact: 30_000_000,
} as const;

export type IdKind = keyof typeof ID_BASES;

export class EmulatorState {
  private readonly counters = new Map<IdKind, number>();
  readonly users = new Map<string, UserRecord>();
  readonly installations = new Map<number, InstallationRecord>();
  readonly tokens = new Map<string, TokenRecord>();
  readonly repos = new Map<string, RepoRecord>();
  /** 'org/team-slug' (lower case) -> member logins. */
  readonly teams = new Map<string, Set<string>>();
  readonly comments = new Map<number, CommentRecord>();
  readonly checkRuns = new Map<number, CheckRunRecord>();
  readonly runs = new Map<number, WorkflowRunRecord>();
  readonly jobs = new Map<number, JobRecord>();
  readonly artifacts = new Map<number, ArtifactRecord>();

  nextId(kind: IdKind): number {
    const next = (this.counters.get(kind) ?? ID_BASES[kind]) + 1;
    this.counters.set(kind, next);
    return next;
  }

  /** Users exist once something mentions them (a collaborator, a commenter, a team member). */
  ensureUser(login: string, type: AccountType = 'User'): UserRecord {
    const key = login.toLowerCase();
    let user = this.users.get(key);
    if (!user) {
      user = { login, id: this.nextId('user'), type };
      this.users.set(key, user);
    }
    return user;
  }

  findUser(login: string): UserRecord | undefined {
    return this.users.get(login.toLowerCase());
  }

  repo(owner: string, name: string): RepoRecord | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }

  repoById(id: number): RepoRecord | undefined {
    for (const r of this.repos.values()) if (r.id === id) return r;
    return undefined;
  }

  installationFor(account: string): InstallationRecord | undefined {
    for (const i of this.installations.values())
      if (i.account.toLowerCase() === account.toLowerCase()) return i;
    return undefined;
  }
}
