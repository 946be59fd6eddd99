// JSON (and so jsonb) has no NaN or Infinity: JSON.stringify turns them into null, and a plan reloaded
// after a crash would then read null where the statistics wrote Infinity. These two functions carry
// non-finite numbers through JSON as tagged strings.

const TAG = '$num:';

export function toJsonSafe<T>(value: T): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? `${TAG}${v}` : v,
    ),
  );
}

export function fromJsonSafe<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) =>
    typeof v === 'string' && v.startsWith(TAG) ? Number(v.slice(TAG.length)) : v,
  ) as T;
}
