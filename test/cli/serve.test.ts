import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSlackEmulator } from '../emulators/slack/index.ts';

// `rea serve` as an operator runs it: configured by the environment, healthy, measurable, and stopping
// cleanly on SIGTERM.

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('rea serve', () => {
  it('starts with only the GitHub and Slack settings on the embedded database, and exits 0 on SIGTERM', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rea-serve-'));
    const slack = await startSlackEmulator();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      APP_ID: '1',
      PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      WEBHOOK_SECRET: 'x',
      SLACK_BOT_TOKEN: slack.token,
      SLACK_SIGNING_SECRET: 'slack-secret',
      SLACK_API_URL: slack.apiUrl,
      REA_DATA_DIR: dir,
      LOG_LEVEL: 'info',
    };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/rea.mjs'), 'serve', '--port', '0'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /rea serve listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearInterval(t);
            resolve(m[1]!);
          }
        }, 50);
        setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 30_000);
      });
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true, outboxBacklog: 0 });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^rea_outbox_backlog 0$/m);
      expect(metrics).toContain('rea_plans{status="running"} 0');
      // Slack is mounted: an unsigned request is refused by Bolt's signature check.
      expect((await fetch(`${url}/slack/events`, { method: 'POST', body: 'command=%2Frea' })).status).toBe(
        401,
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('shutting down');
    } finally {
      child.kill('SIGKILL');
      await slack.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
