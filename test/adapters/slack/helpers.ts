import { type Logger, LogLevel, webApi } from '@slack/bolt';
import type { SlackEmulator } from '../../emulators/slack/index.ts';

// Clients for the Slack tests: the real WebClient pointed at the emulator, without retries or log noise.

export function quietLogger(): Logger {
  let level = LogLevel.ERROR;
  const noop = () => {};
  return {
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: noop,
  };
}

export function webClient(emulator: SlackEmulator): webApi.WebClient {
  return new webApi.WebClient(emulator.token, {
    slackApiUrl: emulator.apiUrl,
    logger: quietLogger(),
    retryConfig: { retries: 0 },
  });
}

/** Buttons of a recorded message: action id, value and label. */
export function buttonsOf(
  blocks: unknown[] | undefined,
): Array<{ action_id: string; value: string; text: string }> {
  const out: Array<{ action_id: string; value: string; text: string }> = [];
  for (const b of (blocks ?? []) as Array<{ type: string; elements?: Array<Record<string, unknown>> }>) {
    if (b.type !== 'actions') continue;
    for (const e of b.elements ?? []) {
      out.push({
        action_id: String(e.action_id),
        value: String(e.value),
        text: String((e.text as { text: string }).text),
      });
    }
  }
  return out;
}
