import type { types } from '@slack/bolt';
import {
  awaitingLine,
  deadEndLine,
  digestHeadline,
  digestTitle,
  insightLine,
  runningLine,
  spendLines,
  winLine,
} from '../../../app/digest-render.ts';
import type { Digest } from '../../../core/digest.ts';
import { type Block, clip, esc, SLACK_LIMITS, type SlackMessage } from './kit.ts';

// The weekly digest in Block Kit. However many plans and runs the week had, the message stays inside Slack's
// limits: each list is one section cut at 3000 characters with a note of how many lines were left out and
// where the rest is, so the message has a dozen blocks at most.

/** Room kept at the end of a list section for the "... and N more" line. */
const MORE_ROOM = 200;

function section(text: string): types.SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(text, SLACK_LIMITS.sectionText) } };
}

/** `title` then bullet lines, as many as fit in one section; the rest are counted, not dropped silently. */
function listSection(
  title: string,
  lines: string[],
  empty: string,
  more: (n: number) => string,
): types.SectionBlock {
  if (lines.length === 0) return section(`${title}\n${empty}`);
  let text = title;
  let shown = 0;
  for (const line of lines) {
    const next = `${text}\n• ${line}`;
    if (next.length > SLACK_LIMITS.sectionText - MORE_ROOM) break;
    text = next;
    shown += 1;
  }
  if (shown === 0) {
    text = `${title}\n• ${clip(lines[0]!, SLACK_LIMITS.sectionText - title.length - MORE_ROOM)}`;
    shown = 1;
  }
  if (shown < lines.length) text += `\n${more(lines.length - shown)}`;
  return section(text);
}

export interface DigestBlocksOptions {
  /** Where the whole digest can be read (shown in "… and N more" notes). */
  fullDigestHint?: string;
}

export function digestMessage(d: Digest, opts: DigestBlocksOptions = {}): SlackMessage {
  const hint = opts.fullDigestHint ?? '`rea digest` on the server';
  const more = (what: string) => (n: number) => `_… and ${n} more ${what}: see ${hint}._`;
  // Changes read better with an arrow in Slack; core writes `a -> b` for plain-text surfaces.
  const l = (s: string) => esc(s.replace(/ -> /g, ' → '));
  const blocks: Block[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: clip(digestTitle(d), SLACK_LIMITS.headerText, ''), emoji: true },
    },
    section(`*${l(digestHeadline(d))}*`),
    listSection(
      ':trophy: *Wins and promotions*',
      d.wins.map((w) => l(winLine(w))),
      'No plan finished with a winner.',
      more('wins'),
    ),
  ];
  if (d.endedWithoutWin.length > 0)
    blocks.push(
      listSection(
        '*Ended without a winner*',
        d.endedWithoutWin.map((e) => l(`${e.model}, plan ${e.planId} (${e.status}): ${e.reason}`)),
        '',
        more('plans'),
      ),
    );
  blocks.push(
    listSection(
      ':runner: *Running*',
      d.running.map((p) => l(runningLine(p))),
      'Nothing running.',
      more('plans'),
    ),
    listSection(
      ':hourglass: *Awaiting approval*',
      d.awaitingApproval.map((p) => l(awaitingLine(p))),
      'Nothing awaits approval.',
      more('plans'),
    ),
    listSection(
      ':no_entry: *Dead ends*',
      d.deadEnds.map((i) => l(deadEndLine(i))),
      'None this week.',
      more('dead ends'),
    ),
    listSection(
      ':bulb: *Top insights of the week*',
      d.topInsights.map((i) => l(insightLine(i))),
      'No new wins in the insights.',
      more('insights'),
    ),
    section(`:moneybag: *Spend*\n${l(spendLines(d).join('\n'))}`),
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: clip(
            `Spend and best improvement over the last ${d.series.length} weeks are in the chart in this thread.`,
            SLACK_LIMITS.sectionText,
          ),
        },
      ],
    },
  );
  return { text: clip(`${l(digestTitle(d))}: ${l(digestHeadline(d))}`, 3000), blocks };
}
