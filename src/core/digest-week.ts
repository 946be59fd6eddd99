// Weeks of the digest in a time zone. Weeks are ISO weeks (Monday 00:00 to the next Monday 00:00) on the
// wall clock of the digest's time zone; the time-zone arithmetic uses only Intl (UTC -> local), never
// offsets guessed by hand, so DST weeks come out 167 or 169 hours long as they are. Pure: instants come in
// as arguments.

export interface DigestWeek {
  /** ISO week label, e.g. `2026-W47`: the key of digests_sent (one digest per channel and week). */
  key: string;
  /** First instant of Monday 00:00 local (ISO, UTC). */
  start: string;
  /** First instant of the next Monday (exclusive). */
  end: string;
  timeZone: string;
  /** Monday's local date, e.g. `2026-11-16`. */
  monday: string;
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** ISO weekday: Monday 1 .. Sunday 7. */
  weekday: number;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when Intl knows the zone (`UTC`, `Europe/Paris`, ...). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock of `timeZone` at instant `ms`. */
export function localParts(ms: number, timeZone: string): LocalParts {
  const out: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) out[p.type] = p.value;
  return {
    year: Number(out.year),
    month: Number(out.month),
    day: Number(out.day),
    hour: Number(out.hour),
    minute: Number(out.minute),
    weekday: WEEKDAYS[out.weekday ?? ''] ?? 0,
  };
}

const dayNumber = (y: number, m: number, d: number) => Math.floor(Date.UTC(y, m - 1, d) / 86_400_000);
const DAY_MS = 86_400_000;

function ymd(dayNo: number): { y: number; m: number; d: number; iso: string } {
  const date = new Date(dayNo * DAY_MS);
  const iso = date.toISOString().slice(0, 10);
  return { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate(), iso };
}

/**
 * The first instant whose local date in `timeZone` is on or after calendar day `dayNo` (days since
 * 1970-01-01). Local dates never go backwards as time moves on, so a binary search over the window where the
 * day can start (UTC midnight +-15 hours covers every offset) finds it exactly, gaps at midnight included.
 */
export function startOfLocalDay(dayNo: number, timeZone: string): number {
  let lo = dayNo * DAY_MS - 15 * 3_600_000;
  let hi = dayNo * DAY_MS + 15 * 3_600_000;
  const localDay = (ms: number) => {
    const p = localParts(ms, timeZone);
    return dayNumber(p.year, p.month, p.day);
  };
  // Minute precision is enough for every zone in use (offsets are whole minutes); finish at the millisecond.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDay(mid) >= dayNo) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** ISO 8601 week label of a calendar day: the week belongs to the year of its Thursday. */
function isoWeekKey(mondayDayNo: number): string {
  const thursday = ymd(mondayDayNo + 3);
  const jan1 = dayNumber(thursday.y, 1, 1);
  const week = Math.floor((mondayDayNo + 3 - jan1) / 7) + 1;
  return `${thursday.y}-W${String(week).padStart(2, '0')}`;
}

function weekFromMonday(mondayDayNo: number, timeZone: string): DigestWeek {
  return {
    key: isoWeekKey(mondayDayNo),
    start: new Date(startOfLocalDay(mondayDayNo, timeZone)).toISOString(),
    end: new Date(startOfLocalDay(mondayDayNo + 7, timeZone)).toISOString(),
    timeZone,
    monday: ymd(mondayDayNo).iso,
  };
}

/** The ISO week (in `timeZone`) that contains the instant. */
export function weekContaining(at: string | number, timeZone: string): DigestWeek {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  const p = localParts(ms, timeZone);
  return weekFromMonday(dayNumber(p.year, p.month, p.day) - (p.weekday - 1), timeZone);
}

/** The week `n` weeks before `week` (n may be 0). */
export function weekBefore(week: DigestWeek, n: number, timeZone = week.timeZone): DigestWeek {
  const [y, m, d] = week.monday.split('-').map(Number) as [number, number, number];
  return weekFromMonday(dayNumber(y, m, d) - 7 * n, timeZone);
}

/**
 * The week a scheduled digest reports: the last complete week at the scheduled instant. With the default
 * schedule (Monday 09:00) that is the week that ended nine hours earlier.
 */
export function reportedWeek(scheduledAt: string | number, timeZone: string): DigestWeek {
  return weekBefore(weekContaining(scheduledAt, timeZone), 1);
}

/**
 * The most recent instant <= `now` (whole minutes) that `matches`, looking back at most `lookbackMinutes`;
 * undefined when none. `matches` is the cron expression's own matcher (node-cron), passed in so this stays
 * pure: stepping back minute by minute is exact for any expression, whatever its fields and time zone.
 * `localMinutes` (the expression's minute field) skips minutes that cannot match without asking the matcher:
 * every time zone in use today is offset from UTC by a multiple of 15 minutes, so a local minute m can only
 * fall on UTC minutes m, m-15, m-30 and m-45 (mod 60).
 */
export function latestScheduled(
  now: number,
  matches: (at: Date) => boolean,
  lookbackMinutes = 8 * 24 * 60,
  localMinutes?: readonly number[],
): number | undefined {
  let possible: boolean[] | undefined;
  if (localMinutes && localMinutes.length < 60) {
    possible = Array.from({ length: 60 }, () => false);
    for (const m of localMinutes) for (const o of [0, 15, 30, 45]) possible[(m - o + 60) % 60] = true;
  }
  const first = Math.floor(now / 60_000) * 60_000;
  for (let i = 0; i <= lookbackMinutes; i++) {
    const t = first - i * 60_000;
    if (possible && !possible[Math.floor(t / 60_000) % 60]) continue;
    if (matches(new Date(t))) return t;
  }
  return undefined;
}
