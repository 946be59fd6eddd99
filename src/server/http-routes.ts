import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { HTTPReceiver } from '@slack/bolt';
import type { Logger } from 'pino';
import type { ReaMetrics } from '../app/metrics.ts';
import type { Store } from '../app/ports.ts';
import { GITHUB_WEBHOOKS_PATH, type GithubSurface } from './github-surface.ts';
import { SLACK_EVENTS_PATH } from './slack-surface.ts';

// rea's one HTTP server: Slack's events (when Bolt's HTTP receiver is mounted), Prometheus metrics, a health
// check with the outbox backlog, and GitHub's webhooks (Probot's middleware; 404 for anything else).

export interface HttpRoutesDeps {
  github: Pick<GithubSurface, 'middleware'>;
  slackReceiver?: HTTPReceiver;
  metrics: ReaMetrics;
  store: Pick<Store, 'outboxBacklog'>;
  log: Logger;
}

export function httpRoutes(deps: HttpRoutesDeps): RequestListener {
  const { metrics, store, log, slackReceiver } = deps;
  return (req: IncomingMessage, res: ServerResponse) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && pathname === SLACK_EVENTS_PATH) {
      if (!slackReceiver) {
        res.writeHead(404).end();
        return;
      }
      metrics.webhooks.inc({ source: 'slack' });
      try {
        slackReceiver.requestListener(req, res);
      } catch (err) {
        log.error({ err: String(err) }, 'slack request failed');
        if (!res.headersSent) res.writeHead(500).end();
      }
      return;
    }
    if (req.method === 'GET' && pathname === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
        .catch(() => res.writeHead(503).end());
      return;
    }
    if (req.method === 'POST' && pathname === GITHUB_WEBHOOKS_PATH)
      metrics.webhooks.inc({ source: 'github' });
    if (req.method === 'GET' && pathname === '/healthz') {
      store
        .outboxBacklog()
        .then((backlog) =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ok: true, outboxBacklog: backlog })),
        )
        .catch(() => res.writeHead(503).end('{"ok":false}'));
      return;
    }
    void deps.github.middleware(req, res, () => res.writeHead(404).end());
  };
}
