import { parse as parseYaml } from 'yaml';
import { checkBaseline, parseReaYaml } from '../config/load.ts';
import type { ReaConfig } from '../config/rea-config.ts';
import type { PlanState, SlackThread } from '../core/model.ts';
import { requestPlan } from './plan-service.ts';
import type { HypothesisSource, RepoFiles, Store } from './ports.ts';

// Making a plan from a repository: the use case behind `/rea plan` in a GitHub comment and in Slack. It lives
// here so that both surfaces call it through ports (the repository is read through `RepoFiles`), and neither
// adapter imports the other.

export interface PlanFromRepoDeps {
  store: Store;
  sources: HypothesisSource[];
  now: () => Date;
}

/** What making a plan from a repository came to: the plan, or why not (undefined: nothing to say). */
export type PlanFromRepoOutcome = { ok: true; state: PlanState } | { ok: false; message?: string };

/**
 * Reads the repository's `.rea.yml` and baseline on its default branch and requests a plan that lives on
 * GitHub. Shared by `/rea plan` in a comment and in Slack; invalid configuration answers with what is wrong.
 */
export async function planFromRepo(
  deps: PlanFromRepoDeps,
  files: RepoFiles,
  req: {
    owner: string;
    repo: string;
    installationId: number | undefined;
    goal: string;
    requestedBy: string;
    requestedIn?: number;
    /** The plan's Slack thread, chosen once `.rea.yml` is read (its `slack.channel`). */
    slackFor?: (config: ReaConfig) => SlackThread | undefined;
  },
): Promise<PlanFromRepoOutcome> {
  const { owner, repo } = req;
  const base = await files.defaultBranch();
  const text = await files.readFile('.rea.yml', base.name);
  if (text === undefined) {
    return {
      ok: false,
      message: `This repository has no \`.rea.yml\` on \`${base.name}\`. Comment \`/rea init\` in an issue to open a PR that adds one.`,
    };
  }
  const cfg = parseReaYaml(text);
  if (!cfg.ok) {
    return {
      ok: false,
      message: [
        '`.rea.yml` is not valid, so no plan was made:',
        ...cfg.problems.map((p) => `- \`${p.path}\`: ${p.message}`),
      ].join('\n'),
    };
  }
  const baselineText = await files.readFile(cfg.value.baseline.config_file, base.name);
  let baselineDoc: unknown;
  try {
    baselineDoc = baselineText === undefined ? undefined : parseYaml(baselineText);
  } catch (err) {
    return {
      ok: false,
      message: `\`${cfg.value.baseline.config_file}\` is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  }
  const baseline = checkBaseline(cfg.value, baselineDoc ?? null, cfg.value.baseline.config_file);
  if (!baseline.ok) {
    return {
      ok: false,
      message: [
        'The baseline config is not valid, so no plan was made:',
        ...baseline.problems.map((p) => `- ${p.message}`),
      ].join('\n'),
    };
  }
  if (req.installationId === undefined) return { ok: false };
  const slack = req.slackFor?.(cfg.value);
  const { state } = await requestPlan({
    store: deps.store,
    model: { dir: `github:${owner}/${repo}`, config: cfg.value, baseline: baseline.value },
    goal: req.goal,
    sources: deps.sources,
    code: files.codeAt(base.sha),
    now: deps.now(),
    repo: `${owner}/${repo}`,
    origin: {
      kind: 'github',
      owner,
      repo,
      installationId: req.installationId,
      baseRef: base.name,
      baseSha: base.sha,
      requestedBy: req.requestedBy,
      ...(req.requestedIn !== undefined ? { requestedIn: req.requestedIn } : {}),
    },
    ...(slack ? { slack } : {}),
  });
  return { ok: true, state };
}
