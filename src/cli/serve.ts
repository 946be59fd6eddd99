import type { Command } from 'commander';
import { startServer } from '../main.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the GitHub App: webhooks, outbox worker and reconciler (configured by environment)')
    .option('--port <port>', 'port to listen on (default $PORT or 3000)')
    .action(async (opts: { port?: string }) => {
      const rea = await startServer({ env: process.env, ...(opts.port ? { port: Number(opts.port) } : {}) });
      process.stdout.write(`rea serve listening on ${rea.url}\n`);
      const stop = async () => {
        rea.log.info('shutting down');
        await rea.close();
        process.exit(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
