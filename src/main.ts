// Composition root of `rea serve` (DESIGN section 12): no logic here. The server is assembled in src/server/
// (settings.ts reads the environment; start-server.ts wires GitHub, Slack, the outbox and the reconciler);
// this module is the entry point the CLI and the end-to-end tests import it from.

export { type ReaServer, type ServeOptions, startServer } from './server/start-server.ts';
