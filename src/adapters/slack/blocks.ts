// Block Kit renderings of a plan for its Slack thread, and of the weekly digest. Pure functions of the plan:
// no I/O, no clock. Every message stays inside Slack's limits whatever the plan holds (hundreds of
// hypotheses, thousands of runs, megabytes of log): long lists are cut with a note saying how much was left
// out and where the rest is, and buttons carry ids only, never content.
//
// One file per view family under blocks/; this module is the one place the rest of rea imports them from.

export { type DigestBlocksOptions, digestMessage } from './blocks/digest.ts';
export {
  budgetRequestMessage,
  budgetStep,
  escalationMessage,
  promotionMessage,
} from './blocks/escalations.ts';
export {
  ACTION_IDS,
  type Block,
  clip,
  esc,
  SLACK_LIMITS,
  type SlackMessage,
  who,
} from './blocks/kit.ts';
export { describeApproval, planMessage } from './blocks/plan.ts';
export { type FinalReportOptions, finalReport, reportHeader } from './blocks/report.ts';
export { decisionReply, failureReply, noticeReply, textReply } from './blocks/run-updates.ts';
