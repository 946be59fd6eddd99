import { webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import { renderReportChart } from '../../app/charts/report-chart.ts';
import type { Chat } from '../../app/ports.ts';
import type { Effect, NotifyTopic, PlanState } from '../../core/model.ts';
import { buildReport } from '../../core/report.ts';
import {
  budgetRequestMessage,
  escalationMessage,
  finalReport,
  noticeReply,
  planMessage,
  promotionMessage,
  reportHeader,
  type SlackMessage,
} from './blocks.ts';
import { uploadPng } from './files.ts';

// The plan's Slack thread: one parent message updated in place as the plan moves, and replies under it.
// Called by the outbox worker, so every method either delivers or throws (the worker retries later).

export interface SlackChatOptions {
  /**
   * Called once the parent message exists; rea stores (channel, ts) in the plan so replies find it. May be
   * called again with the same values until the plan holds them, so it must be idempotent.
   */
  onParentPosted(planId: string, channel: string, ts: string): Promise<void>;
  /** The GitHub web UI for PR links (a GitHub Enterprise Server host differs). */
  githubUrl?: string;
  /** The model's plans, so that the report can say which insights this plan added or changed. */
  history?: (model: string) => Promise<PlanState[]>;
  log?: Logger;
}

/** A Slack Web API call that failed; `slackError` is Slack's own code (channel_not_found, ratelimited...). */
export class SlackDeliveryError extends Error {
  readonly code = 'slack_delivery_failed';
  constructor(
    readonly method: string,
    readonly slackError: string,
    readonly planId: string,
    options?: { cause?: unknown },
  ) {
    super(`Slack ${method} failed for plan ${planId}: ${slackError}`, options);
    this.name = 'SlackDeliveryError';
  }
}

interface Parent {
  channel: string;
  ts: string;
}

/** How far the final report of a plan got in its thread: the reply, then the chart under it. */
interface ReportProgress {
  replyTs?: string;
  chartDone: boolean;
}

type EffectOf<T extends Effect['type']> = Extract<Effect, { type: T }>;

function slackError(err: unknown): string {
  const e = err as { code?: string; data?: { error?: string }; message?: string };
  if (e?.code === webApi.ErrorCode.PlatformError && e.data?.error) return e.data.error;
  if (e?.code === webApi.ErrorCode.RateLimitedError) return 'ratelimited';
  return e?.message ?? String(err);
}

export class SlackChat implements Chat {
  /**
   * Parents this process posted, so that a retry after a failed onParentPosted (or a reply racing the first
   * publish) updates the same message instead of starting a second thread.
   */
  private readonly parents = new Map<string, Parent>();
  private readonly posting = new Map<string, Promise<Parent>>();
  /** Report replies and charts this process delivered, per plan (see `report`). */
  private readonly reports = new Map<string, ReportProgress>();
  private readonly githubUrl: string;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly opts: SlackChatOptions,
  ) {
    this.githubUrl = (opts.githubUrl ?? 'https://github.com').replace(/\/+$/, '');
  }

  async publishPlan(plan: PlanState): Promise<void> {
    if (!plan.slack) return;
    const msg = planMessage(plan, this.links(plan));
    const known = this.knownParent(plan);
    if (known) {
      try {
        await this.client.chat.update({ channel: known.channel, ts: known.ts, ...msg });
        await this.ensureStored(plan, known);
        return;
      } catch (err) {
        // Someone deleted the parent: start the thread again rather than fail forever.
        if (slackError(err) !== 'message_not_found') throw this.wrap('chat.update', plan, err);
        this.parents.delete(plan.id);
        await this.postParent(plan, msg, true);
        return;
      }
    }
    await this.postParent(plan, msg, false);
  }

  async notify(plan: PlanState, topic: NotifyTopic, text: string): Promise<void> {
    await this.reply(plan, noticeReply(topic, text, { mentions: mentionable(plan) }));
  }

  async escalate(plan: PlanState, effect: EffectOf<'escalate'>): Promise<void> {
    await this.reply(plan, escalationMessage(plan, effect));
  }

  async requestBudget(plan: PlanState, effect: EffectOf<'request_budget'>): Promise<void> {
    await this.reply(plan, budgetRequestMessage(plan, effect));
  }

  /**
   * The final report: a Block Kit reply, then the chart as a PNG in the same thread. Two Slack calls, so a
   * retry by the outbox must not repeat the first when only the second failed: this process remembers how
   * far it got, and a process that does not know (after a restart) looks for the reply in the thread.
   */
  async report(plan: PlanState, _markdown: string, location?: string): Promise<void> {
    // The Markdown is for files and PRs (tables Slack cannot show); the thread gets Block Kit built from the
    // plan, with a pointer to the full report.
    const parent = await this.thread(plan);
    if (!parent) return;
    const progress = this.reports.get(plan.id) ?? (await this.findReport(plan, parent));
    this.reports.set(plan.id, progress);
    const history = this.opts.history ? await this.opts.history(plan.spec.model) : undefined;
    if (progress.replyTs === undefined) {
      const msg = finalReport(plan, {
        ...this.links(plan),
        ...(location ? { location } : {}),
        ...(history ? { history } : {}),
        chart: true,
      });
      progress.replyTs = await this.postReply(plan, parent, msg);
    }
    if (!progress.chartDone) {
      await this.uploadChart(plan, parent, history);
      progress.chartDone = true;
    }
  }

  private async uploadChart(
    plan: PlanState,
    parent: Parent,
    history: readonly PlanState[] | undefined,
  ): Promise<void> {
    let chart: Awaited<ReturnType<typeof renderReportChart>>;
    try {
      chart = await renderReportChart(buildReport(plan, history ? { history } : {}));
    } catch (err) {
      // Drawing is deterministic: retrying would fail the same way and hold the plan's later messages.
      this.opts.log?.error({ planId: plan.id, err: String(err) }, 'report chart could not be drawn');
      return;
    }
    if (!chart) return;
    try {
      await uploadPng(this.client, {
        channel: parent.channel,
        threadTs: parent.ts,
        filename: chart.filename,
        title: chart.title,
        altText: chart.altText,
        png: chart.png,
      });
    } catch (err) {
      throw this.wrap('files.uploadV2', plan, err);
    }
  }

  /**
   * What an earlier process already posted of this plan's report, read from the thread. Reading needs the
   * channels:history scope; without it (or on any error) the report counts as not posted, which risks a
   * second copy only when the process died between the two calls.
   */
  private async findReport(plan: PlanState, parent: Parent): Promise<ReportProgress> {
    const progress: ReportProgress = { chartDone: false };
    try {
      let cursor: string | undefined;
      for (let page = 0; page < 50; page++) {
        const res = await this.client.conversations.replies({
          channel: parent.channel,
          ts: parent.ts,
          limit: 200,
          ...(cursor ? { cursor } : {}),
        });
        for (const m of res.messages ?? []) {
          if (m.ts === parent.ts || !m.bot_id) continue;
          const head = m.blocks?.[0] as { type?: string; text?: { text?: string } } | undefined;
          if (head?.type === 'header' && head.text?.text === reportHeader(plan.id)) progress.replyTs = m.ts;
          else if (progress.replyTs !== undefined && (m.files?.length ?? 0) > 0) progress.chartDone = true;
        }
        cursor = res.response_metadata?.next_cursor || undefined;
        if (!res.has_more || !cursor) break;
      }
    } catch (err) {
      this.opts.log?.warn(
        { planId: plan.id, err: slackError(err) },
        'could not read the plan thread; posting the report as new',
      );
      return { chartDone: false };
    }
    return progress;
  }

  async promote(plan: PlanState, effect: EffectOf<'open_promotion'>): Promise<void> {
    const o = plan.origin;
    const promotionUrl = o?.promotionPr ? `${this.repoUrl(plan)}/pull/${o.promotionPr}` : undefined;
    await this.reply(plan, promotionMessage(plan, effect, promotionUrl ? { promotionUrl } : {}));
  }

  private links(plan: PlanState): { prUrl?: string } {
    return plan.origin?.pr ? { prUrl: `${this.repoUrl(plan)}/pull/${plan.origin.pr}` } : {};
  }

  private repoUrl(plan: PlanState): string {
    const o = plan.origin!;
    return `${this.githubUrl}/${encodeURIComponent(o.owner)}/${encodeURIComponent(o.repo)}`;
  }

  private knownParent(plan: PlanState): Parent | undefined {
    if (plan.slack?.ts) return { channel: plan.slack.channel, ts: plan.slack.ts };
    return this.parents.get(plan.id);
  }

  /** Posts the parent once per plan even when a reply and the first publish race in this process. */
  private async postParent(plan: PlanState, msg: SlackMessage, again: boolean): Promise<Parent> {
    const inFlight = this.posting.get(plan.id);
    if (inFlight) return inFlight;
    const job = (async () => {
      const channel = plan.slack!.channel;
      let parent: Parent;
      try {
        const res = await this.client.chat.postMessage({
          channel,
          ...msg,
          unfurl_links: false,
          unfurl_media: false,
        });
        parent = { channel: res.channel ?? channel, ts: res.ts! };
      } catch (err) {
        throw this.wrap('chat.postMessage', plan, err);
      }
      this.parents.set(plan.id, parent);
      if (again || !plan.slack?.ts) await this.opts.onParentPosted(plan.id, parent.channel, parent.ts);
      return parent;
    })();
    this.posting.set(plan.id, job);
    try {
      return await job;
    } finally {
      this.posting.delete(plan.id);
    }
  }

  /** The thread to reply in, posting the parent first when it is not there yet (its publish may have failed). */
  private async thread(plan: PlanState): Promise<Parent | undefined> {
    if (!plan.slack) return undefined;
    const known = this.knownParent(plan);
    if (known) {
      await this.ensureStored(plan, known);
      return known;
    }
    return this.postParent(plan, planMessage(plan, this.links(plan)), false);
  }

  /** A parent posted by this process whose ts the plan does not hold yet (onParentPosted failed before). */
  private async ensureStored(plan: PlanState, parent: Parent): Promise<void> {
    if (!plan.slack?.ts) await this.opts.onParentPosted(plan.id, parent.channel, parent.ts);
  }

  private async reply(plan: PlanState, msg: SlackMessage): Promise<void> {
    const parent = await this.thread(plan);
    if (!parent) return;
    await this.postReply(plan, parent, msg);
  }

  private async postReply(plan: PlanState, parent: Parent, msg: SlackMessage): Promise<string> {
    try {
      const res = await this.client.chat.postMessage({
        channel: parent.channel,
        thread_ts: parent.ts,
        ...msg,
        unfurl_links: false,
        unfurl_media: false,
      });
      return res.ts ?? '';
    } catch (err) {
      throw this.wrap('chat.postMessage', plan, err);
    }
  }

  private wrap(method: string, plan: PlanState, err: unknown): SlackDeliveryError {
    return new SlackDeliveryError(method, slackError(err), plan.id, { cause: err });
  }
}

/** Slack users who acted on the plan: core writes their ids into notices, which read better as mentions. */
function mentionable(plan: PlanState): string[] {
  const ids = new Set<string>();
  for (const a of plan.approvals) if (a.via === 'slack') ids.add(a.by);
  for (const e of plan.escalations) if (e.resolved) ids.add(e.resolved.by);
  if (plan.slack?.requestedBy) ids.add(plan.slack.requestedBy);
  return [...ids];
}
