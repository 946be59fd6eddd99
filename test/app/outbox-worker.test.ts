import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drainOutbox } from '../../src/app/outbox-worker.ts';
import type { Store } from '../../src/app/ports.ts';
import type { Effect } from '../../src/core/model.ts';
import { openTestStore } from '../helpers/db.ts';

// The outbox keeps each plan's effects in order through failures: while one waits for its retry, the
// effects behind it wait too, and other plans go on.

let store: Store;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ store, cleanup } = await openTestStore());
});
afterEach(() => cleanup());

const note = (planId: string, text: string): Effect => ({
  type: 'notify',
  topic: 'phase_decision',
  text,
  idempotencyKey: `${planId}:${text}`,
});

describe('the outbox worker', () => {
  it('delivers each plan in order after a failure, once, while other plans go on', async () => {
    let clock = Date.parse('2026-11-02T09:00:00Z');
    const now = () => new Date(clock);
    await store.transaction(async (tx) => {
      await tx.enqueueEffects('p', [note('p', 'A'), note('p', 'B')], now().toISOString());
      await tx.enqueueEffects('q', [note('q', 'X')], now().toISOString());
      await tx.enqueueEffects('p', [note('p', 'C')], now().toISOString());
      await tx.enqueueEffects(
        'p',
        [{ type: 'update_insights', phase: 'validation', idempotencyKey: 'p:insights' }],
        now().toISOString(),
      );
    });
    const delivered: string[] = [];
    let slackDown = true;
    const perform = async (effect: Effect) => {
      if (effect.type === 'update_insights') delivered.push('insights');
      if (effect.type !== 'notify') return;
      if (slackDown && effect.text === 'A') throw new Error('ratelimited');
      delivered.push(effect.text);
    };
    const log = pino({ level: 'silent' });
    await drainOutbox({ store, perform, now, log });
    // A failed; messages B and C of the same plan wait behind it; X of another plan is delivered, and so is
    // p's insight update, which is no message and never waits for one.
    expect(delivered).toEqual(['X', 'insights']);
    expect(await store.outboxBacklog()).toBe(3);
    // Still inside A's backoff: nothing of plan p moves.
    clock += 500;
    await drainOutbox({ store, perform, now, log });
    expect(delivered).toEqual(['X', 'insights']);
    slackDown = false;
    clock += 60_000;
    await drainOutbox({ store, perform, now, log });
    expect(delivered).toEqual(['X', 'insights', 'A', 'B', 'C']);
    expect(await store.outboxBacklog()).toBe(0);
    await drainOutbox({ store, perform, now, log });
    expect(delivered).toEqual(['X', 'insights', 'A', 'B', 'C']);
  });
});
