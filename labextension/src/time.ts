// Plain-language dates for the key list: "never", "3 hours ago", "Nov 27, 2026".

const DAY_MS = 24 * 60 * 60 * 1000;

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * DAY_MS],
  ['month', 30 * DAY_MS],
  ['week', 7 * DAY_MS],
  ['day', DAY_MS],
  ['hour', 60 * 60 * 1000],
  ['minute', 60 * 1000]
];

export function parseDate(value: string | null | undefined): Date | null {
  if (!value) {
    return null;
  }
  const date = new Date(value);
  return isNaN(date.getTime()) ? null : date;
}

/** "just now", "3 hours ago", "2 days ago", or "never" for a missing date. */
export function timeAgo(value: string | null | undefined, now: number = Date.now()): string {
  const date = parseDate(value);
  if (!date) {
    return 'never';
  }
  const elapsed = now - date.getTime();
  if (elapsed < 45 * 1000) {
    return 'just now';
  }
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(elapsed) >= size) {
      return format.format(-Math.round(elapsed / size), unit);
    }
  }
  return format.format(-Math.max(1, Math.round(elapsed / 60000)), 'minute');
}

/** A short absolute date, e.g. "Nov 27, 2026". */
export function shortDate(value: string | null | undefined): string {
  const date = parseDate(value);
  return date
    ? date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
    : '—';
}

/** A full local date and time for tooltips and the details view. */
export function fullDate(value: string | null | undefined): string {
  const date = parseDate(value);
  return date
    ? date.toLocaleString(undefined, {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit'
      })
    : 'never';
}

/** Whole days between a date and now (0 for a missing date). */
export function daysSince(value: string | null | undefined, now: number = Date.now()): number {
  const date = parseDate(value);
  return date ? Math.floor((now - date.getTime()) / DAY_MS) : 0;
}
