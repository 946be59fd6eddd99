export type { RunConclusion, Runner, RunnerOutcome, RunnerRun } from './actions-engine.ts';
export { type CommandRunnerOptions, commandRunner, runContractEnv } from './command-runner.ts';
export { EXPERIMENT_WORKFLOW, EXPERIMENT_WORKFLOW_PATH } from './experiment-workflow.ts';
export { GHES_API_PREFIX, type Violation } from './openapi.ts';
export { UnthrottledProbotOctokit } from './probot-octokit.ts';
export {
  type AddRepoOptions,
  GithubEmulator,
  type GithubEmulatorOptions,
  type RecordedRequest,
  type RepoInfo,
  type ReviewStateInput,
  startGithubEmulator,
} from './server.ts';
export { validateWebhookPayload } from './webhook-schemas.ts';
export type { Delivery } from './webhooks.ts';
