import { open } from 'node:fs/promises';

// What a run report keeps of a job's log. Every runner cuts the log the same way (a local log file, a log
// downloaded from GitHub Actions), so the runbooks match against the same window whatever ran the attempt.

/** Lines and bytes of log kept for reports (what runbooks match against and escalations quote). */
export const LOG_TAIL_LINES = 200;
export const LOG_TAIL_BYTES = 32 * 1024;

/** The last LOG_TAIL_LINES lines (at most LOG_TAIL_BYTES) of a log file; empty when there is none. */
export async function readLogTail(file: string): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, 'r');
    const { size } = await fh.stat();
    const start = Math.max(0, size - LOG_TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    // Starting mid-file cuts a line (and perhaps a character) in two: drop the partial first line.
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return logTailOf(text);
  } catch {
    return '';
  } finally {
    await fh?.close();
  }
}

/** What a report keeps of a whole log: the same cut as readLogTail, for logs already in memory. */
export function logTailOf(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= LOG_TAIL_BYTES) return tailLines(text, LOG_TAIL_LINES);
  const cut = bytes.subarray(bytes.length - LOG_TAIL_BYTES).toString('utf8');
  return tailLines(cut.slice(cut.indexOf('\n') + 1), LOG_TAIL_LINES);
}

/** The last `n` lines of a text (without a trailing empty line). */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}
