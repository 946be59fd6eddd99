import type { NotifyTopic } from '../../../core/model.ts';
import {
  esc,
  message,
  prose,
  type Section,
  SLACK_ID,
  SLACK_LIMITS,
  type SlackMessage,
  section,
} from './kit.ts';

// Replies under the plan's parent message as runs finish, phases decide and failures are handled, and the
// plain answers to commands. A long text is split over several sections rather than cut.

const TOPIC_EMOJI: Record<NotifyTopic, string> = {
  plan_approved: ':white_check_mark:',
  plan_rejected: ':no_entry:',
  phase_decision: ':bar_chart:',
  failure_handled: ':wrench:',
  paused: ':double_vertical_bar:',
  resumed: ':arrow_forward:',
  cancelled: ':x:',
  budget_raised: ':moneybag:',
  plan_finished: ':checkered_flag:',
};

/** Turns the Slack user ids named in a notice into mentions (core writes `by` as it got it). */
function mention(text: string, ids: readonly string[]): string {
  let out = text;
  for (const u of ids) {
    if (SLACK_ID.test(u)) out = out.replace(new RegExp(`(?<![<@\\w])${u}(?!\\w)`, 'g'), `<@${u}>`);
  }
  return out;
}

/** A reply in the plan's thread: one notice, split over several sections when it is long. */
export function noticeReply(
  topic: NotifyTopic,
  text: string,
  opts: { mentions?: readonly string[] } = {},
): SlackMessage {
  const body = mention(prose(text), opts.mentions ?? []);
  const first = `${TOPIC_EMOJI[topic]} ${body}`;
  return message(prose(text), textSections(first, 20));
}

export function decisionReply(text: string, opts: { mentions?: readonly string[] } = {}): SlackMessage {
  return noticeReply('phase_decision', text, opts);
}

export function failureReply(text: string, opts: { mentions?: readonly string[] } = {}): SlackMessage {
  return noticeReply('failure_handled', text, opts);
}

/** Long mrkdwn split at line or word boundaries into at most `maxBlocks` sections. */
function textSections(text: string, maxBlocks: number): Section[] {
  const cap = SLACK_LIMITS.sectionText;
  const out: Section[] = [];
  let rest = text;
  while (rest.length > cap && out.length < maxBlocks - 1) {
    let cut = rest.lastIndexOf('\n', cap);
    if (cut < cap / 2) cut = rest.lastIndexOf(' ', cap);
    if (cut < cap / 2) cut = cap;
    const open = rest.lastIndexOf('<', cut - 1);
    if (open > rest.lastIndexOf('>', cut - 1) && open > 0) cut = open;
    const amp = rest.lastIndexOf('&', cut - 1);
    if (amp >= 0 && cut - amp < 8 && rest.indexOf(';', amp) >= cut) cut = amp;
    out.push(section(rest.slice(0, cut)));
    rest = rest.slice(cut).replace(/^[ \n]/, '');
  }
  out.push(section(rest));
  return out;
}

/** A plain answer (status, insights, digest, errors) as an ephemeral or in-channel message. */
export function textReply(text: string): SlackMessage {
  return message(esc(text), textSections(esc(text), 20));
}
