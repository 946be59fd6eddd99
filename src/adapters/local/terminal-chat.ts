import type { Chat } from '../../app/ports.ts';
import { progressOf, renderCostTable, renderHypotheses } from '../../app/render.ts';
import { fmtHours } from '../../core/decide.ts';
import { fmtValue } from '../../core/knobs.ts';
import type { Effect, NotifyTopic, PlanState } from '../../core/model.ts';

// The local stand-in for a Slack thread: plan tables, decisions, failures and progress in the terminal.
// On a TTY the progress line is redrawn in place; elsewhere (CI, pipes) it is printed when it changes.

type Out = { write(s: string): unknown; isTTY?: boolean };

export class TerminalChat implements Chat {
  private shown = new Set<string>();
  private lastProgress = '';
  private progressOnLine = false;

  constructor(private readonly out: Out = process.stdout) {}

  private line(text: string): void {
    if (this.progressOnLine) {
      this.out.write('\r\x1b[2K');
      this.progressOnLine = false;
    }
    this.out.write(`${text}\n`);
  }

  async publishPlan(plan: PlanState): Promise<void> {
    if (!this.shown.has(plan.id)) {
      this.shown.add(plan.id);
      this.line(`\nPlan ${plan.id} for ${plan.spec.model}: ${plan.goal}\n`);
      this.line(renderHypotheses(plan));
      if (plan.rejected.length > 0)
        this.line(`\n${plan.rejected.length} proposals not included (see the plan report).`);
      this.line(`\n${renderCostTable(plan)}\n`);
      this.line(`Budget asked for: ${fmtHours(plan.budget.requestedGpuHours)} GPU-hours.`);
      return;
    }
    this.progress(plan);
  }

  progress(plan: PlanState): void {
    if (plan.status !== 'running') return;
    const p = progressOf(plan);
    const text = `[${p.phase}${p.step !== p.phase ? `/${p.step}` : ''}] ${p.done}/${p.planned} runs done${p.failed ? `, ${p.failed} failed` : ''}; ${fmtHours(p.spent)} of ${fmtHours(p.budget)} GPU-hours`;
    if (text === this.lastProgress) return;
    this.lastProgress = text;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${text}`);
      this.progressOnLine = true;
    } else {
      this.out.write(`${text}\n`);
    }
  }

  async notify(_plan: PlanState, topic: NotifyTopic, text: string): Promise<void> {
    const tag: Record<NotifyTopic, string> = {
      plan_approved: 'approved',
      plan_rejected: 'rejected',
      phase_decision: 'decision',
      failure_handled: 'runbook',
      paused: 'paused',
      resumed: 'resumed',
      cancelled: 'cancelled',
      budget_raised: 'budget',
      plan_finished: 'finished',
    };
    this.line(`${tag[topic].padEnd(9)} ${text}`);
  }

  async escalate(plan: PlanState, effect: Extract<Effect, { type: 'escalate' }>): Promise<void> {
    this.line(`escalate  ${effect.reason}`);
    if (effect.logExcerpt) this.line(indent(effect.logExcerpt.split('\n').slice(-8).join('\n')));
    this.line(
      `          Plan ${plan.id} is paused. Fix the cause, then run the same command again to choose retry, skip or cancel.`,
    );
  }

  async requestBudget(plan: PlanState, effect: Extract<Effect, { type: 'request_budget' }>): Promise<void> {
    this.line(
      `budget    Plan ${plan.id} asks for about ${fmtHours(effect.neededGpuHours)} more GPU-hours: ${effect.wouldBuy}.`,
    );
  }

  async report(_plan: PlanState, _markdown: string, location?: string): Promise<void> {
    if (location) this.line(`report    ${location}`);
  }

  async promote(_plan: PlanState, effect: Extract<Effect, { type: 'open_promotion' }>): Promise<void> {
    const values = Object.entries(effect.overrides)
      .map(([k, v]) => `${k}: ${fmtValue(v)}`)
      .join(', ');
    this.line(`promote   To make the winner the new baseline, set ${values} in the baseline config.`);
  }
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `          | ${l}`)
    .join('\n');
}
