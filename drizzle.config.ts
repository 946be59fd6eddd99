import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` diffs src/db/schema.ts against drizzle/meta and writes the next migration;
// migrations are applied by the app on start-up (src/db/migrate.ts), never by drizzle-kit.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
