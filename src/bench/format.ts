// How the bench writes its figures, shared by the tables and the acceptance block.

export function pctText(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
}

/** GPU-hours with their full-run equivalents; "not reached" for the infinity a never-reached mark counts as. */
export function hoursText(h: number, full: number): string {
  if (h === Number.POSITIVE_INFINITY) return 'not reached';
  if (!Number.isFinite(h)) return 'n/a';
  return `${Number(h.toPrecision(3))} (${Number((h / full).toPrecision(3))} runs)`;
}
