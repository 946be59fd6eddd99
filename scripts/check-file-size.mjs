// No file in src/ over 500 lines (DESIGN section 12): a room that grows past it has more than one job.
// Part of `npm run layout`; exits 1 and names every file over the limit.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const LIMIT = 500;
const root = path.resolve(import.meta.dirname, '../src');
const over = readdirSync(root, { recursive: true })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ f, lines: readFileSync(path.join(root, f), 'utf8').split('\n').length - 1 }))
  .filter((x) => x.lines > LIMIT)
  .sort((a, b) => b.lines - a.lines);
for (const x of over)
  console.error(`src/${x.f}: ${x.lines} lines (limit ${LIMIT}): split it along its seams`);
if (over.length > 0) process.exit(1);
console.log(`no file in src/ over ${LIMIT} lines`);
