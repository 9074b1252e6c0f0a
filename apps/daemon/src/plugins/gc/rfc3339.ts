/** Go's `time.Parse(time.RFC3339, s)`, which containerd uses for the `containerd.io/gc.expire`
 *  lease label: `2006-01-02T15:04:05Z07:00`. Go also takes fractional seconds after the seconds
 *  (with "." or ",", any number of digits, nanoseconds kept) and offsets up to 24:60. Stricter
 *  than `Date.parse`, which would take many forms containerd refuses. */

const FORM = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** Milliseconds since the epoch, or undefined when `text` is not RFC 3339 as Go reads it. */
export function parseRfc3339(text: string): number | undefined {
  const m = FORM.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 24 || om > 60) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = m[7] ? Number(`0.${m[7].slice(0, 9)}`) * 1000 : 0;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC maps years 0–99 to 1900–1999; RFC 3339 years are literal.
  const literal = year < 100 ? new Date(utc).setUTCFullYear(year) : utc;
  return literal + fraction - offsetMinutes * 60_000;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
