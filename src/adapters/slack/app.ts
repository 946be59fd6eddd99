import type { App, BlockAction, ButtonAction, RespondArguments, RespondFn, webApi } from '@slack/bolt';
import { type Command, parseCommand } from '../../core/commands.ts';
import { assertNever } from '../../core/knobs.ts';
import { ACTION_IDS, esc, textReply } from './blocks.ts';

// Bolt handlers for the `/rea` command and the buttons rea puts in plan threads. Thin: parse, call a use case,
// answer. Slack wants an acknowledgement within 3 seconds, so every handler acks first and works after;
// answers that only concern the person who asked are ephemeral.

export const SLASH_COMMAND = '/rea';

export type ControlAction =
  | 'approve'
  | 'reject'
  | 'pause'
  | 'resume'
  | 'cancel'
  | 'budget'
  | 'escalation_retry'
  | 'escalation_skip';

export interface ControlRequest {
  planId: string;
  action: ControlAction;
  /** The Slack user id of the person who typed the command or pressed the button. */
  user: string;
  /** For `budget`: GPU-hours to add. */
  gpuHours?: number;
  /** For `escalation_retry` and `escalation_skip`. */
  escalationId?: string;
  /** For `reject` (and `cancel`, when given). */
  reason?: string;
}

/** What the person who acted is told. `ok: false` means nothing changed, and `message` says why. */
export interface SlackOutcome {
  ok: boolean;
  message: string;
}

export type PlanRequestOutcome =
  | { ok: true; planId: string; message?: string }
  | { ok: false; message: string };

/**
 * The use cases behind the Slack surface. Return values are user-facing (mrkdwn-free plain text; the
 * handlers escape it). A throw is a system fault: it is logged and the user is told to try again.
 */
export interface SlackDeps {
  /** Reads the repo's `.rea.yml`, proposes hypotheses and creates the plan; its thread follows via SlackChat. */
  requestPlan(req: {
    repo: string;
    goal: string;
    channel: string;
    user: string;
  }): Promise<PlanRequestOutcome>;
  /**
   * Applies an approver's decision. The use case checks that `user` is listed in `.rea.yml`
   * `approvers.slack` (user ids or user-group ids, see `mayActInSlack`); anyone else gets `ok: false` with the
   * explanation, as does an action the plan's state does not allow.
   */
  control(req: ControlRequest): Promise<SlackOutcome>;
  /** One plan's progress, or the open plans when `planId` is absent. */
  status(planId?: string): Promise<string>;
  insights(repo: string, text?: string): Promise<string>;
  /** `now`: post this week's digest to `channel` now and say so; otherwise show it to the asker. */
  digest(channel: string, now: boolean): Promise<string>;
  log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
}

const BUTTON_ACTIONS = new RegExp(`^(${Object.values(ACTION_IDS).join('|')})$`);

function ephemeral(text: string): RespondArguments {
  return { response_type: 'ephemeral', replace_original: false, ...textReply(text) };
}

/** Help and usage errors: the prose as text, the command list as a code block so that it lines up. */
function replyText(text: string): string {
  const at = text.indexOf('rea commands:');
  if (at < 0) return esc(text);
  const prose = text.slice(0, at).trim();
  return `${prose ? `${esc(prose)}\n` : ''}\`\`\`\n${esc(text.slice(at))}\n\`\`\``;
}

function controlOf(c: Command, user: string): ControlRequest | undefined {
  switch (c.type) {
    case 'approve':
    case 'pause':
    case 'resume':
    case 'cancel':
      return { planId: c.plan, action: c.type, user };
    case 'reject':
      return { planId: c.plan, action: 'reject', user, ...(c.reason ? { reason: c.reason } : {}) };
    case 'budget':
      return { planId: c.plan, action: 'budget', user, gpuHours: c.gpuHours };
    default:
      return undefined;
  }
}

/** A button's value carries ids only: `planId`, `planId:escalationId` or `planId:+gpuHours`. */
export function controlFromButton(actionId: string, value: string, user: string): ControlRequest | undefined {
  const colon = value.indexOf(':');
  const planId = colon < 0 ? value : value.slice(0, colon);
  const rest = colon < 0 ? '' : value.slice(colon + 1);
  if (!planId) return undefined;
  switch (actionId) {
    case ACTION_IDS.approve:
      return { planId, action: 'approve', user };
    case ACTION_IDS.reject:
      return { planId, action: 'reject', user };
    case ACTION_IDS.cancel:
      return { planId, action: 'cancel', user };
    case ACTION_IDS.budget: {
      const m = /^\+(\d+(?:\.\d+)?)$/.exec(rest);
      const gpuHours = m ? Number(m[1]) : Number.NaN;
      return gpuHours > 0 ? { planId, action: 'budget', user, gpuHours } : undefined;
    }
    case ACTION_IDS.escalationRetry:
    case ACTION_IDS.escalationSkip:
      if (!rest) return undefined;
      return {
        planId,
        action: actionId === ACTION_IDS.escalationRetry ? 'escalation_retry' : 'escalation_skip',
        user,
        escalationId: rest,
      };
    default:
      return undefined;
  }
}

const CHOSEN: Record<ControlAction, string> = {
  approve: 'approved',
  reject: 'rejected',
  pause: 'paused',
  resume: 'resumed',
  cancel: 'cancelled the plan',
  budget: 'raised the budget',
  escalation_retry: 'chose *Retry*',
  escalation_skip: 'chose *Skip*',
};

async function runCommand(deps: SlackDeps, c: Command, channel: string, user: string): Promise<string> {
  const control = controlOf(c, user);
  if (control) return (await deps.control(control)).message;
  switch (c.type) {
    case 'plan': {
      const out = await deps.requestPlan({ repo: c.repo, goal: c.goal, channel, user });
      if (!out.ok) return out.message;
      return (
        out.message ??
        `Plan ${out.planId} is proposed: its thread (with Approve and Reject) and its PR follow.`
      );
    }
    case 'status':
      return deps.status(c.plan);
    case 'insights':
      return deps.insights(c.repo, c.text);
    case 'digest':
      return deps.digest(channel, c.now);
    case 'help':
    case 'init':
    case 'approve':
    case 'reject':
    case 'pause':
    case 'resume':
    case 'cancel':
    case 'budget':
      // help and init arrive as parse replies; the control commands were handled above.
      return 'Nothing to do.';
    default:
      return assertNever(c);
  }
}

async function safeRespond(deps: SlackDeps, respond: RespondFn, msg: RespondArguments, fields: object) {
  try {
    await respond(msg);
  } catch (err) {
    deps.log.warn({ ...fields, err: String(err) }, 'slack response_url answer failed');
  }
}

const FAULT = 'rea hit an internal error and nothing changed; it has been logged. Try again in a minute.';

export function registerSlackHandlers(app: App, deps: SlackDeps): void {
  app.command(SLASH_COMMAND, async ({ command, ack, respond }) => {
    const parsed = parseCommand(command.text ?? '', { surface: 'slack' });
    if (parsed.kind === 'ignore') {
      await ack();
      return;
    }
    if (parsed.kind === 'reply') {
      await ack({ response_type: 'ephemeral', text: replyText(parsed.text) });
      return;
    }
    const c = parsed.command;
    const fields = { command: c.type, user: command.user_id, channel: command.channel_id };
    // Planning reads the repo and asks the research agent: far longer than Slack's 3 seconds.
    await ack(
      c.type === 'plan'
        ? {
            response_type: 'ephemeral',
            text: `:hourglass_flowing_sand: Working on a plan for ${esc(c.repo)}: ${esc(c.goal)}. This takes a minute.`,
          }
        : undefined,
    );
    let answer: string;
    try {
      answer = await runCommand(deps, c, command.channel_id, command.user_id);
    } catch (err) {
      deps.log.error({ ...fields, err: String(err) }, 'slack command failed');
      answer = FAULT;
    }
    await safeRespond(deps, respond, ephemeral(answer), fields);
  });

  app.action<BlockAction<ButtonAction>>(BUTTON_ACTIONS, async ({ ack, body, action, respond, client }) => {
    await ack();
    if (body.type !== 'block_actions' || action.type !== 'button') return;
    const user = body.user.id;
    const fields = { action: action.action_id, user, value: action.value };
    const req = controlFromButton(action.action_id, action.value ?? '', user);
    if (!req) {
      deps.log.warn(fields, 'slack button with a value rea does not understand');
      await safeRespond(
        deps,
        respond,
        ephemeral('rea does not recognise this button (it may be from an older message); nothing changed.'),
        fields,
      );
      return;
    }
    let out: SlackOutcome;
    try {
      out = await deps.control(req);
    } catch (err) {
      deps.log.error({ ...fields, planId: req.planId, err: String(err) }, 'slack button failed');
      out = { ok: false, message: FAULT };
    }
    if (!out.ok) {
      await safeRespond(deps, respond, ephemeral(out.message), fields);
      return;
    }
    deps.log.info({ ...fields, planId: req.planId }, 'slack button applied');
    // The parent message follows the plan (SlackChat updates it); an escalation or budget request is answered
    // once, so its buttons give way to who decided what.
    if (req.action !== 'approve' && req.action !== 'reject') {
      await markDecided(client, body, `:white_check_mark: <@${user}> ${CHOSEN[req.action]}.`, deps, fields);
    }
  });
}

async function markDecided(
  client: webApi.WebClient,
  body: BlockAction<ButtonAction>,
  note: string,
  deps: SlackDeps,
  fields: object,
): Promise<void> {
  const channel = body.channel?.id ?? body.container?.channel_id;
  const ts = body.message?.ts ?? body.container?.message_ts;
  const blocks = body.message?.blocks;
  if (!channel || !ts || !Array.isArray(blocks)) return;
  // The buttons go, and so does the line explaining them (the context right after them).
  const all = blocks as Array<{ type?: string }>;
  const kept = all.filter(
    (b, i) => b.type !== 'actions' && !(b.type === 'context' && all[i - 1]?.type === 'actions'),
  );
  try {
    await client.chat.update({
      channel,
      ts,
      text: typeof body.message?.text === 'string' ? body.message.text : note,
      blocks: [...kept, { type: 'context', elements: [{ type: 'mrkdwn', text: note }] }] as never,
    });
  } catch (err) {
    deps.log.warn({ ...fields, err: String(err) }, 'could not mark the slack message as decided');
  }
}
