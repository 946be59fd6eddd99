import type { types } from '@slack/bolt';
import type { Approval, PlanState } from '../../../core/model.ts';

// What every Block Kit view of rea shares: Slack's limits, the action ids its buttons carry, and the text and
// block helpers that keep every message inside those limits whatever the plan holds (hundreds of hypotheses,
// thousands of runs, megabytes of log): long lists are cut with a note saying how much was left out and
// where the rest is, and buttons carry ids only, never content.

export type Block = types.KnownBlock;
export type Section = types.SectionBlock;
export type Button = types.Button;

export interface SlackMessage {
  /** The notification and fallback text (what a phone shows); the blocks are what the channel shows. */
  text: string;
  blocks: Block[];
}

export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  id: 255,
  contextElements: 10,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
} as const;

/** Fallback text is kept short: Slack allows 40,000 characters but notifications show a line or two. */
const FALLBACK_TEXT = 3000;
/** Room kept in the last section of a list for the "... and N more" line. */
const MORE_ROOM = 300;

export const ACTION_IDS = {
  approve: 'rea_approve',
  reject: 'rea_reject',
  cancel: 'rea_cancel',
  budget: 'rea_budget',
  escalationRetry: 'rea_escalation_retry',
  escalationSkip: 'rea_escalation_skip',
} as const;

// ------------------------------------------------------------------ text helpers

/** Slack reads `&`, `<` and `>` as control characters in every text field, code blocks included. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Text written by core for every surface: changes (`a -> b`) read better with an arrow in Slack. */
export function prose(s: string): string {
  return esc(s.replace(/ -> /g, ' → '));
}

/**
 * Cuts `text` to at most `max` characters, ending with an ellipsis and `note`. Never cuts inside an escape
 * (`&amp;`), a control sequence (`<@U123>`, `<url|label>`) or a surrogate pair, and closes a code block that
 * the cut left open.
 */
export function clip(text: string, max: number, note = ' _(truncated)_'): string {
  if (text.length <= max) return text;
  const hasFence = text.includes('```');
  let tail = `…${note}`;
  if (tail.length + (hasFence ? 4 : 0) > max) tail = '…';
  let cut = Math.max(0, max - tail.length - (hasFence ? 4 : 0));
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && cut - amp < 8) {
    const semi = text.indexOf(';', amp);
    if (semi >= cut && semi - amp < 8) cut = amp;
  }
  const open = text.lastIndexOf('<', cut - 1);
  if (open >= 0 && open > text.lastIndexOf('>', cut - 1)) cut = open;
  const code = text.charCodeAt(cut - 1);
  if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut -= 1;
  let kept = text.slice(0, cut);
  if (hasFence && (kept.split('```').length - 1) % 2 === 1) kept += '\n```';
  return kept + tail;
}

export function usd(x: number): string {
  return x >= 100 ? `$${x.toFixed(0)}` : x >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(2)}`;
}

export const SLACK_ID = /^[UW][A-Z0-9]{2,}$/;

/** Slack user ids become mentions; anyone else (a GitHub login, a CLI user) is shown as written. */
export function who(by: string, via?: Approval['via']): string {
  return (via === undefined || via === 'slack') && SLACK_ID.test(by) ? `<@${by}>` : esc(by);
}

// ------------------------------------------------------------------ block helpers

export function section(text: string, note?: string): Section {
  const body = text.length > 0 ? text : ' ';
  return { type: 'section', text: { type: 'mrkdwn', text: clip(body, SLACK_LIMITS.sectionText, note) } };
}

export function header(text: string): types.HeaderBlock {
  return {
    type: 'header',
    text: { type: 'plain_text', text: clip(text, SLACK_LIMITS.headerText, ''), emoji: true },
  };
}

export function context(texts: string[]): types.ContextBlock {
  return {
    type: 'context',
    elements: texts
      .filter((t) => t.length > 0)
      .slice(0, SLACK_LIMITS.contextElements)
      .map((t) => ({ type: 'mrkdwn' as const, text: clip(t, SLACK_LIMITS.sectionText) })),
  };
}

function id(s: string): string {
  return s.slice(0, SLACK_LIMITS.id);
}

export function button(opts: {
  text: string;
  actionId: string;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: { title: string; text: string; confirm: string; deny: string };
}): Button {
  return {
    type: 'button',
    action_id: id(opts.actionId),
    text: { type: 'plain_text', text: clip(opts.text, SLACK_LIMITS.buttonText, ''), emoji: true },
    // Values are ids; one that is somehow too long is cut (and then fails its look-up) rather than refused.
    value: opts.value.slice(0, SLACK_LIMITS.buttonValue),
    ...(opts.style ? { style: opts.style } : {}),
    ...(opts.confirm
      ? {
          confirm: {
            title: { type: 'plain_text', text: clip(opts.confirm.title, SLACK_LIMITS.confirmTitle, '') },
            text: { type: 'mrkdwn', text: clip(opts.confirm.text, SLACK_LIMITS.confirmText, '') },
            confirm: { type: 'plain_text', text: clip(opts.confirm.confirm, SLACK_LIMITS.confirmButton, '') },
            deny: { type: 'plain_text', text: clip(opts.confirm.deny, SLACK_LIMITS.confirmButton, '') },
          },
        }
      : {}),
  };
}

export function actions(blockId: string, elements: Button[]): types.ActionsBlock {
  return { type: 'actions', block_id: id(blockId), elements: elements.slice(0, 25) };
}

/**
 * Lines packed into at most `maxBlocks` sections under a bold title. Lines that do not fit are counted and
 * replaced by `more(n)`, so a reader always knows how much is missing.
 */
export function listSections(
  title: string,
  lines: string[],
  maxBlocks: number,
  more: (n: number) => string,
): Section[] {
  const cap = SLACK_LIMITS.sectionText - MORE_ROOM;
  const texts: string[] = [];
  let current = title;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = clip(lines[i]!, cap - 1);
    const next = current ? `${current}\n${line}` : line;
    if (next.length <= cap) {
      current = next;
      continue;
    }
    if (texts.length + 1 >= maxBlocks) break;
    texts.push(current);
    current = line;
  }
  if (i < lines.length) current = `${current}\n${clip(more(lines.length - i), MORE_ROOM - 1, '')}`;
  texts.push(current);
  return texts.map((t) => section(t));
}

/** The last guard: whatever a renderer built, the message Slack receives is within its limits. */
export function message(text: string, blocks: Block[]): SlackMessage {
  let out = blocks;
  if (out.length > SLACK_LIMITS.blocks) {
    const acts = out.filter((b) => b.type === 'actions');
    const rest = out.filter((b) => b.type !== 'actions');
    const keep = SLACK_LIMITS.blocks - acts.length - 1;
    out = [
      ...rest.slice(0, keep),
      context([`_… ${rest.length - keep} more blocks left out to fit Slack's limit._`]),
      ...acts,
    ];
  }
  return { text: clip(text, FALLBACK_TEXT, ''), blocks: out };
}

// ------------------------------------------------------------------ shared by several views

/** A plan's status as its message and its final report show it. */
export const STATUS: Record<PlanState['status'], string> = {
  awaiting_approval: ':hourglass_flowing_sand: Awaiting approval',
  running: ':arrow_forward: Running',
  paused: ':double_vertical_bar: Paused',
  completed: ':checkered_flag: Completed',
  cancelled: ':x: Cancelled',
  rejected: ':no_entry: Rejected',
};

/** A fixed-width table in a code block (Slack has no tables): first column left, the rest right-aligned. */
export function monoTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return ['```', line(head), ...rows.map(line), '```'].join('\n');
}
