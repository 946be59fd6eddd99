import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import type { Violation } from './openapi.ts';
import { validateWebhookPayload } from './webhook-schemas.ts';

// Delivers webhooks the way GitHub's hookshot does: a JSON POST with the event name, a delivery guid and
// an HMAC-SHA256 signature of the exact body. Deliveries go out one at a time in the order they were
// queued, so `requested` always reaches the app before `completed`.

/** GitHub gives a receiver 10 seconds before it records the delivery as failed. */
export const DELIVERY_TIMEOUT_MS = 10_000;

export interface Delivery {
  /** X-GitHub-Delivery; a redelivery keeps the guid of the original. */
  id: string;
  event: string;
  action?: string;
  payload: Record<string, unknown>;
  /** The exact bytes that were signed and sent. */
  body: string;
  /** HTTP status the receiver answered; null when dropped, not sent or failed before a response. */
  status: number | null;
  durationMs: number | null;
  error?: string;
  /** Not sent because webhooks were switched off (deliverWebhooks: false) or no webhookUrl was set. */
  dropped: boolean;
  redelivery: boolean;
}

export interface WebhookDispatcherOptions {
  secret: string;
  url: () => string | undefined;
  enabled: () => boolean;
  /** Extra headers GitHub Enterprise Server sends with each delivery. */
  headers: () => Record<string, string>;
  onViolation: (v: Violation) => void;
  track: <T>(p: Promise<T>) => Promise<T>;
}

export class WebhookDispatcher {
  readonly deliveries: Delivery[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: WebhookDispatcherOptions) {}

  /** Validates, records and queues a delivery; resolves when it has been delivered (or dropped). */
  send(event: string, payload: Record<string, unknown>): Promise<Delivery> {
    const action = typeof payload.action === 'string' ? payload.action : undefined;
    for (const message of validateWebhookPayload(event, payload)) {
      this.opts.onViolation({
        method: 'POST',
        path: `webhook ${event}${action ? `.${action}` : ''}`,
        where: 'request',
        message,
      });
    }
    const delivery: Delivery = {
      id: randomUUID(),
      event,
      payload,
      body: JSON.stringify(payload),
      status: null,
      durationMs: null,
      dropped: false,
      redelivery: false,
    };
    if (action) delivery.action = action;
    return this.enqueue(delivery, false);
  }

  /** Sends a recorded delivery again with the same guid and body (GitHub's "Redeliver"). */
  redeliver(id: string): Promise<Delivery> {
    const original = this.deliveries.find((d) => d.id === id);
    if (!original) return Promise.reject(new Error(`no delivery ${id}`));
    const again: Delivery = { ...original, status: null, durationMs: null, dropped: false, redelivery: true };
    delete again.error;
    return this.enqueue(again, true);
  }

  private enqueue(delivery: Delivery, force: boolean): Promise<Delivery> {
    this.deliveries.push(delivery);
    const run = async (): Promise<Delivery> => {
      const url = this.opts.url();
      if (!url || (!force && !this.opts.enabled())) {
        delivery.dropped = true;
        return delivery;
      }
      await this.post(url, delivery);
      return delivery;
    };
    const result = this.queue.then(run, run);
    this.queue = result;
    return this.opts.track(result);
  }

  private async post(url: string, delivery: Delivery): Promise<void> {
    const started = performance.now();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/emulator',
          'x-github-event': delivery.event,
          'x-github-delivery': delivery.id,
          'x-hub-signature-256': await sign(this.opts.secret, delivery.body),
          ...this.opts.headers(),
        },
        body: delivery.body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      delivery.status = res.status;
    } catch (e) {
      delivery.error = e instanceof Error ? e.message : String(e);
    } finally {
      delivery.durationMs = Math.round(performance.now() - started);
    }
  }
}
