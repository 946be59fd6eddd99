import type { webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import { digestTitle } from '../../app/digest-render.ts';
import { DigestNotPosted, type DigestPoster } from '../../app/digest-service.ts';
import type { Digest } from '../../core/digest.ts';
import { digestMessage } from './blocks.ts';
import { uploadPng } from './files.ts';

// Posts a digest to Slack: the message, then its chart as a PNG in the message's thread. The chart is
// rendered before anything is posted; once the message is in, a failed chart upload is logged, not retried
// (the digest itself was delivered).

export class SlackDigestPoster implements DigestPoster {
  constructor(
    private readonly client: webApi.WebClient,
    private readonly log: Logger,
  ) {}

  async post(channel: string, digest: Digest): Promise<{ ts: string }> {
    let message: ReturnType<typeof digestMessage>;
    let png: Buffer;
    try {
      message = digestMessage(digest);
      // Chart.js and the canvas load on first use, not when `rea serve` starts.
      const { renderDigestChart } = await import('../../app/charts/digest-chart.ts');
      png = await renderDigestChart(digest);
    } catch (err) {
      throw new DigestNotPosted(`rendering the digest failed: ${String(err)}`);
    }
    let ts: string | undefined;
    try {
      const res = await this.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks });
      ts = res.ts;
    } catch (err) {
      // An error answer from Slack (ok: false, or a rate limit) means nothing was posted.
      const code = (err as { code?: string }).code;
      if (code === 'slack_webapi_platform_error' || code === 'slack_webapi_rate_limited_error')
        throw new DigestNotPosted(`Slack refused the digest: ${String(err)}`);
      throw err;
    }
    if (!ts) throw new Error('chat.postMessage answered without a ts');
    try {
      await uploadPng(this.client, {
        channel,
        threadTs: ts,
        filename: `rea-digest-${digest.week.monday}.png`,
        title: `${digestTitle(digest)}: spend and best improvement`,
        altText: `Bar chart of dollars spent per week and line of the best improvement per week over the last ${digest.series.length} weeks`,
        png,
      });
    } catch (err) {
      this.log.warn({ channel, week: digest.week.key, err: String(err) }, 'digest chart upload failed');
    }
    return { ts };
  }
}
