import type { DecideContext, Effect, NotifyTopic, PlanState } from './model.ts';
import { nextKey } from './plan.ts';

/** Collects what one decide call does: the effects it asks for and the decisions it records. */
export class Builder {
  readonly effects: Effect[] = [];
  constructor(
    readonly state: PlanState,
    readonly ctx: DecideContext,
  ) {}
  notify(topic: NotifyTopic, text: string, runId?: string): void {
    this.effects.push({
      type: 'notify',
      topic,
      text,
      ...(runId ? { runId } : {}),
      idempotencyKey: nextKey(this.state, 'notify'),
    });
  }
  publish(): void {
    if (this.effects.some((e) => e.type === 'publish_plan')) return;
    this.effects.push({ type: 'publish_plan', idempotencyKey: nextKey(this.state, 'publish') });
  }
  decision(text: string): void {
    this.state.decisions.push({ at: this.ctx.now, phase: this.state.phase, step: this.state.step, text });
    this.notify('phase_decision', text);
  }
}
