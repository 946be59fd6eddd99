// What the layout promises (DESIGN section 12, docs/architecture.md), checked by `npm run layout`:
// no import cycle between files; core is the ground floor; adapters meet only in app/ (through ports) or in
// the server assembly (src/server/); and the top-level folders of src/ form layers that import only
// downwards, so that no cycle between folders can form either:
//   core < config < app < db, adapters/* < bench < server < cli, main.ts
// (adapters/shared holds helpers several adapters use; it is not an adapter.)
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle between files: break it with a port or by moving the shared part down.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-the-ground-floor',
      severity: 'error',
      comment: 'src/core imports nothing outside src/core (pure libraries are checked by test/core/purity).',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'config-imports-only-core',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/(core|config)/' },
    },
    {
      name: 'db-implements-app-ports',
      severity: 'error',
      comment: 'The store is an adapter of the Store port: it imports core, config and app/ports, nothing above.',
      from: { path: '^src/db/' },
      to: { path: '^src/', pathNot: '^src/(core|config|app|db)/' },
    },
    {
      name: 'app-imports-no-adapter',
      severity: 'error',
      comment: 'Use cases talk to the world through ports (app/ports.ts); adapters implement them.',
      from: { path: '^src/app/' },
      to: { path: '^src/', pathNot: '^src/(core|config|app)/' },
    },
    {
      name: 'adapters-meet-only-in-app',
      severity: 'error',
      comment:
        'One adapter never imports another: share through app/ (ports and use cases) or adapters/shared/.',
      from: { path: '^src/adapters/([^/]+)/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/($1|shared)/' },
    },
    {
      name: 'adapters-import-downwards',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/', pathNot: '^src/(core|config|app|adapters)/' },
    },
    {
      name: 'adapters-shared-is-a-leaf',
      severity: 'error',
      from: { path: '^src/adapters/shared/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/shared/' },
    },
    {
      name: 'bench-imports-downwards',
      severity: 'error',
      from: { path: '^src/bench/' },
      to: { path: '^src/(cli/|server/|main\\.ts)' },
    },
    {
      name: 'server-does-not-import-the-cli',
      severity: 'error',
      comment: 'src/server assembles rea serve from app, adapters, db and config; the CLI sits above it.',
      from: { path: '^src/server/' },
      to: { path: '^src/(cli|bench)/' },
    },
    {
      name: 'main-does-not-import-the-cli',
      severity: 'error',
      from: { path: '^src/main\\.ts$' },
      to: { path: '^src/(cli|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
