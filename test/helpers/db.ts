import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { openPgliteStore, openStore, type PostgresStore } from '../../src/db/store.ts';

// Tests run on PGlite by default and on a real server when DATABASE_URL is set. On a server every test
// store gets its own fresh database, so test files can run in parallel without sharing tables.

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database `rea_test_<random>` on the DATABASE_URL server (nothing migrated yet). */
export async function createTestDatabase(serverUrl = requireDatabaseUrl()): Promise<TestDatabase> {
  const name = `rea_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
      try {
        // A store a test forgot to close must not keep the database alive.
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

export interface TestStore {
  store: PostgresStore;
  /** The database URL when running on a real server; undefined on in-memory PGlite. */
  url?: string;
  /** Opens another store (its own connection pool, as another replica would) on the same database. */
  openReplica(): Promise<PostgresStore>;
  /** Closes the store and its replicas and drops the database. */
  cleanup(): Promise<void>;
}

export async function openTestStore(): Promise<TestStore> {
  if (!process.env.DATABASE_URL) {
    const store = await openPgliteStore(new PGlite({ loadDataDir: await pgliteTemplate() }));
    return {
      store,
      openReplica: () => Promise.reject(new Error('replicas need a PostgreSQL server (set DATABASE_URL)')),
      cleanup: () => store.close(),
    };
  }
  const database = await createTestDatabase();
  const replicas: PostgresStore[] = [];
  let store: PostgresStore;
  try {
    store = await openStore({ databaseUrl: database.url, dataDir: ':memory:' });
  } catch (err) {
    await database.drop();
    throw err;
  }
  return {
    store,
    url: database.url,
    async openReplica() {
      const replica = await openReplicaStore(database.url);
      replicas.push(replica);
      return replica;
    },
    async cleanup() {
      await Promise.all([store, ...replicas].map((s) => s.close()));
      await database.drop();
    },
  };
}

// Booting PGlite and migrating takes seconds; loading a dump of an already migrated database is several
// times faster, so each test worker migrates once and every in-memory test store starts from its dump.
let template: Promise<Blob> | undefined;

function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    const pglite = new PGlite();
    const store = await openPgliteStore(pglite);
    try {
      return await pglite.dumpDataDir('none');
    } finally {
      await store.close();
    }
  })();
  return template;
}

/** A second store on an existing database: a separate connection pool, as another replica would have. */
export function openReplicaStore(url: string): Promise<PostgresStore> {
  return openStore({ databaseUrl: url, dataDir: ':memory:' });
}

function requireDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  return url;
}
