import { fileURLToPath } from 'node:url';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { migrate as migratePgliteDb } from 'drizzle-orm/pglite/migrator';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgresDb } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

/** The generated SQL migrations, found next to the sources so that rea migrates from any working directory. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

// Any fixed number works as long as nothing else in the database uses it for an advisory lock.
const MIGRATION_LOCK_KEY = 7_265_610_001;

/** Applies pending migrations to an embedded PGlite database (one process owns it, so no lock is needed). */
export async function migratePglite(db: PgliteDatabase): Promise<void> {
  await migratePgliteDb(db, { migrationsFolder });
}

/**
 * Applies pending migrations to a PostgreSQL server. drizzle's migrator reads the last applied migration
 * before its transaction, so two replicas starting together would both apply it (and race on
 * `CREATE SCHEMA IF NOT EXISTS`); a session advisory lock makes the second wait and then find nothing to do.
 * A dedicated single-connection client keeps the lock, the migration and the unlock on one session.
 */
export async function migratePostgres(databaseUrl: string): Promise<void> {
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await client.unsafe(`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
    try {
      await migratePostgresDb(drizzle({ client }), { migrationsFolder });
    } finally {
      await client.unsafe(`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`);
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
