// One command grammar for `/rea ...` in Slack, `/rea ...` in PR and issue comments, and the CLI. Parsing
// returns a command, a reply (help, or a usage error saying what was wrong), or ignore (not for rea).

export type Command =
  | { type: 'help' }
  | { type: 'plan'; repo: string; goal: string }
  | { type: 'status'; plan?: string }
  | { type: 'approve'; plan: string }
  | { type: 'reject'; plan: string; reason?: string }
  | { type: 'pause'; plan: string }
  | { type: 'resume'; plan: string }
  | { type: 'cancel'; plan: string }
  | { type: 'budget'; plan: string; gpuHours: number }
  | { type: 'insights'; repo: string; text?: string }
  | { type: 'digest'; now: boolean }
  | { type: 'init' };

export type ParseResult =
  | { kind: 'command'; command: Command }
  | { kind: 'reply'; text: string }
  | { kind: 'ignore' };

/** What the surface already knows: the repository of a PR comment, the plan of a plan PR or thread. */
export interface CommandContext {
  surface: 'slack' | 'github' | 'cli';
  repo?: string;
  plan?: string;
}

export const USAGE: Record<Command['type'], string> = {
  help: '/rea help',
  plan: '/rea plan <owner/repo> <goal>',
  status: '/rea status [plan]',
  approve: '/rea approve <plan>',
  reject: '/rea reject <plan> [reason]',
  pause: '/rea pause <plan>',
  resume: '/rea resume <plan>',
  cancel: '/rea cancel <plan>',
  budget: '/rea budget <plan> +<gpu-hours>',
  insights: '/rea insights <owner/repo> [text]',
  digest: '/rea digest [now]',
  init: '/rea init',
};

const DESCRIPTIONS: Record<Command['type'], string> = {
  help: 'this list',
  plan: 'propose an experiment plan for a model repository',
  status: 'plans and their progress',
  approve: 'approve a plan (approvers only)',
  reject: 'reject a plan (approvers only)',
  pause: 'stop dispatching new runs (approvers only)',
  resume: 'resume a paused plan (approvers only)',
  cancel: 'cancel a plan and its runs (approvers only)',
  budget: 'raise the approved budget (approvers only)',
  insights: 'what earlier experiments learned',
  digest: "this week's digest",
  init: 'open a PR adding .rea.yml and the experiment workflow (GitHub)',
};

export function helpText(ctx: CommandContext): string {
  const lines = (Object.keys(USAGE) as Command['type'][])
    .filter((t) => t !== 'init' || ctx.surface === 'github')
    .map((t) => `${usageFor(t, ctx)}: ${DESCRIPTIONS[t]}`);
  return ['rea commands:', ...lines].join('\n');
}

/** The usage line as it reads on this surface: a PR comment names neither its repo nor its plan. */
export function usageFor(type: Command['type'], ctx: CommandContext): string {
  let u = USAGE[type];
  if (ctx.repo) u = u.replace(' <owner/repo>', ' [owner/repo]');
  if (ctx.plan) u = u.replace(' <plan>', ' [plan]');
  return ctx.surface === 'cli' ? u.replace('/rea', 'rea') : u;
}

const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const PLAN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** rea's plan ids are `<model>-<6 hex digits>`; only such a word overrides the plan a PR or thread implies. */
const PLAN_LIKE = /^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{6}$/;

function usage(type: Command['type'], ctx: CommandContext, problem: string): ParseResult {
  const sep = /[.?!]$/.test(problem) ? ' ' : '. ';
  return { kind: 'reply', text: `${problem}${sep}Usage: ${usageFor(type, ctx)}` };
}

/**
 * Parses one command. `text` is what follows `/rea` (Slack gives that as the command's text); for
 * comments, use `extractCommand` first to find the `/rea` line.
 */
export function parseCommand(text: string, ctx: CommandContext): ParseResult {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const verb = (words.shift() ?? 'help').toLowerCase();
  const planArg = (type: Command['type']): { plan: string } | { error: ParseResult } => {
    const first = words[0];
    const explicit =
      first !== undefined &&
      (ctx.plan ? PLAN_LIKE.test(first) : PLAN_ID.test(first) && !first.startsWith('+'));
    if (explicit) return { plan: words.shift()! };
    if (ctx.plan) return { plan: ctx.plan };
    return { error: usage(type, ctx, 'Which plan?') };
  };
  switch (verb) {
    case 'help':
      return { kind: 'reply', text: helpText(ctx) };
    case 'plan': {
      let repo = ctx.repo;
      if (words[0] && REPO.test(words[0])) repo = words.shift()!;
      if (!repo) return usage('plan', ctx, 'Which repository?');
      const goal = words.join(' ');
      if (!goal) return usage('plan', ctx, 'What is the goal?');
      return { kind: 'command', command: { type: 'plan', repo, goal } };
    }
    case 'status':
      return {
        kind: 'command',
        command: { type: 'status', ...(words[0] ? { plan: words[0] } : ctx.plan ? { plan: ctx.plan } : {}) },
      };
    case 'approve':
    case 'pause':
    case 'resume':
    case 'cancel': {
      const p = planArg(verb);
      if ('error' in p) return p.error;
      if (words.length > 0 && verb !== 'cancel') return usage(verb, ctx, `Unexpected '${words.join(' ')}'`);
      return { kind: 'command', command: { type: verb, plan: p.plan } };
    }
    case 'reject': {
      const p = planArg('reject');
      if ('error' in p) return p.error;
      const reason = words.join(' ');
      return { kind: 'command', command: { type: 'reject', plan: p.plan, ...(reason ? { reason } : {}) } };
    }
    case 'budget': {
      const p = planArg('budget');
      if ('error' in p) return p.error;
      const amount = words[0];
      if (!amount) return usage('budget', ctx, 'How many GPU-hours?');
      const m = /^\+(\d+(?:\.\d+)?)$/.exec(amount);
      if (!m) return usage('budget', ctx, `'${amount}' is not an amount like +50`);
      const gpuHours = Number(m[1]);
      if (!(gpuHours > 0)) return usage('budget', ctx, 'The amount must be more than 0');
      if (words.length > 1) return usage('budget', ctx, `Unexpected '${words.slice(1).join(' ')}'`);
      return { kind: 'command', command: { type: 'budget', plan: p.plan, gpuHours } };
    }
    case 'insights': {
      let repo = ctx.repo;
      if (words[0] && REPO.test(words[0])) repo = words.shift()!;
      if (!repo) return usage('insights', ctx, 'Which repository?');
      const t = words.join(' ');
      return { kind: 'command', command: { type: 'insights', repo, ...(t ? { text: t } : {}) } };
    }
    case 'digest': {
      if (words.length > 1 || (words[0] && words[0].toLowerCase() !== 'now')) {
        return usage('digest', ctx, `Unexpected '${words.join(' ')}'`);
      }
      return { kind: 'command', command: { type: 'digest', now: words[0]?.toLowerCase() === 'now' } };
    }
    case 'init':
      if (ctx.surface !== 'github')
        return { kind: 'reply', text: '/rea init works in a GitHub issue of the repository to set up.' };
      return { kind: 'command', command: { type: 'init' } };
    default:
      return { kind: 'reply', text: `Unknown command '${verb}'.\n${helpText(ctx)}` };
  }
}

/**
 * Finds the `/rea` line of a comment. Comments that quote a command (`> /rea ...`) or mention it inside
 * code are not commands; neither is a comment rea wrote itself (the caller checks the author).
 */
export function extractCommand(body: string): string | undefined {
  let inFence = false;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('```')) {
      inFence = !inFence;
      continue;
    }
    if (inFence) continue;
    const m = /^\/rea(?:\s+(.*))?$/i.exec(line);
    if (m) return (m[1] ?? '').trim();
  }
  return undefined;
}

/** Parses a comment body: ignore unless it holds a `/rea` line. */
export function parseComment(body: string, ctx: CommandContext): ParseResult {
  const text = extractCommand(body);
  return text === undefined ? { kind: 'ignore' } : parseCommand(text, ctx);
}
