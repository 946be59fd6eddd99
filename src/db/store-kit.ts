import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

// What the store's parts share: the database handle they are given and how they insert many rows.

/** A drizzle database or transaction on either driver; the store only uses what both have in common. */
export type Db = PgDatabase<PgQueryResultHKT>;

// Keeps each multi-row insert well under PostgreSQL's 65535 bind parameters.
const CHUNK_ROWS = 500;

export async function insertChunked<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) {
    await insert(rows.slice(i, i + CHUNK_ROWS));
  }
}
