import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadPng } from '../../../src/adapters/slack/files.ts';
import { renderChartPng } from '../../../src/app/charts/render.ts';
import { type SlackEmulator, startSlackEmulator } from '../../emulators/slack/index.ts';
import { webClient } from './helpers.ts';

describe('uploadPng', () => {
  let emulator: SlackEmulator;
  beforeAll(async () => {
    emulator = await startSlackEmulator();
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('shares the PNG bytes into a thread with a title and alt text', async () => {
    const client = webClient(emulator);
    const parent = await client.chat.postMessage({ channel: 'C0EXPERIMENTS', text: 'plan' });
    const png = await renderChartPng({
      type: 'line',
      data: { labels: [1, 2], datasets: [{ label: 'ne', data: [0.8, 0.7] }] },
    });
    const id = await uploadPng(client, {
      channel: 'C0EXPERIMENTS',
      threadTs: parent.ts!,
      filename: 'plan-chart.png',
      title: 'NE by run',
      altText: 'NE of each run, by phase',
      png,
    });
    const file = emulator.files.find((f) => f.id === id);
    expect(file).toMatchObject({
      name: 'plan-chart.png',
      title: 'NE by run',
      mimetype: 'image/png',
      channel: 'C0EXPERIMENTS',
      thread_ts: parent.ts,
      alt_text: 'NE of each run, by phase',
    });
    expect(file?.bytes.equals(png)).toBe(true);
  });

  it('fails loudly for a channel Slack does not know', async () => {
    const client = webClient(emulator);
    await expect(
      uploadPng(client, {
        channel: 'C0NOPE',
        filename: 'x.png',
        title: 'x',
        altText: 'x',
        png: await renderChartPng({
          type: 'bar',
          data: { labels: ['a'], datasets: [{ label: 'x', data: [1] }] },
        }),
      }),
    ).rejects.toThrow(/channel_not_found/);
  });
});
