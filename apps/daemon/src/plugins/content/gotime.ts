/** Go's time texts, so ingest files and lock messages read as containerd writes them:
 *  `time.Time.MarshalText` (RFC 3339 with up to nine fraction digits, trailing zeros trimmed,
 *  in the local zone as `Z` or `±hh:mm`) for `startedat`/`updatedat`, and `Duration.String` /
 *  `Time.String` for the "ref … locked for …" message. */

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function zoneOffset(t: Date): string {
  const minutes = -t.getTimezoneOffset();
  if (minutes === 0) return "Z";
  const a = Math.abs(minutes);
  return `${minutes < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** Fraction digits of a nanosecond count, trailing zeros trimmed, with the dot; "" for zero. */
function fraction(nanos: number): string {
  if (nanos === 0) return "";
  return `.${pad(nanos, 9).replace(/0+$/, "")}`;
}

/** Go's `time.Time.MarshalText` (RFC3339Nano) for `t` in the local zone. */
export function marshalTime(t: Date): string {
  const date = `${pad(t.getFullYear(), 4)}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  return `${date}T${clock}${fraction(t.getMilliseconds() * 1e6)}${zoneOffset(t)}`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Go's `time.Time.UnmarshalText`; sub-millisecond digits are dropped (a Date holds ms).
 *  Returns undefined for text Go would refuse. */
export function unmarshalTime(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m as unknown as string[];
  const fields = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)] as const;
  if (fields[1] < 1 || fields[1] > 12 || fields[2] < 1 || fields[2] > 31) return undefined;
  if (fields[3] > 23 || fields[4] > 59 || fields[5] > 59) return undefined;
  const ms = frac ? Math.floor(Number(frac.padEnd(9, "0")) / 1e6) : 0;
  let utc = Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5], ms);
  // Date.UTC maps years 0–99 to 1900–1999; Go does not.
  if (fields[0] < 100) utc = new Date(utc).setUTCFullYear(fields[0]);
  if (zone !== "Z") {
    const sign = zone!.startsWith("-") ? -1 : 1;
    const [zh, zm] = zone!.slice(1).split(":").map(Number) as [number, number];
    if (zh > 23 || zm > 59) return undefined;
    utc -= sign * (zh * 60 + zm) * 60_000;
  }
  const out = new Date(utc);
  // Go refuses a day past the month's end (2023-02-30).
  return Number.isNaN(out.getTime()) ||
    new Date(Date.UTC(fields[0], fields[1] - 1, fields[2])).getUTCDate() !== fields[2]
    ? undefined
    : out;
}

/** Go's `time.Duration.String` for a span in nanoseconds: "0s", "850ns", "1.5µs", "12.3ms",
 *  "2.5s", "1m30s", "2h0m5.1s". */
export function goDuration(nanos: number): string {
  let ns = Math.round(nanos);
  if (ns === 0) return "0s";
  const neg = ns < 0;
  if (neg) ns = -ns;
  const trim = (whole: number, frac: number, digits: number) => {
    const f = frac === 0 ? "" : `.${String(frac).padStart(digits, "0").replace(/0+$/, "")}`;
    return `${whole}${f}`;
  };
  let out: string;
  if (ns < 1_000) out = `${ns}ns`;
  else if (ns < 1_000_000) out = `${trim(Math.floor(ns / 1_000), ns % 1_000, 3)}µs`;
  else if (ns < 1_000_000_000) out = `${trim(Math.floor(ns / 1_000_000), ns % 1_000_000, 6)}ms`;
  else {
    const totalSeconds = Math.floor(ns / 1e9);
    const secs = `${trim(totalSeconds % 60, ns % 1e9, 9)}s`;
    const minutes = Math.floor(totalSeconds / 60);
    if (minutes === 0) out = secs;
    else {
      const hours = Math.floor(minutes / 60);
      out = hours === 0 ? `${minutes}m${secs}` : `${hours}h${minutes % 60}m${secs}`;
    }
  }
  return neg ? `-${out}` : out;
}

function zoneName(t: Date): string {
  if (t.getTimezoneOffset() === 0) return "UTC";
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
    .formatToParts(t)
    .find((p) => p.type === "timeZoneName");
  return part?.value ?? "";
}

/** Go's `time.Time.String` for a time read from the monotonic clock: `2006-01-02
 *  15:04:05.999999999 -0700 MST m=+0.000000001`. `sinceStartMs` is the monotonic reading
 *  (ms since the process started), which Go prints as `m=±seconds`. */
export function goTimeString(t: Date, sinceStartMs: number): string {
  const minutes = -t.getTimezoneOffset();
  const a = Math.abs(minutes);
  const offset = `${minutes < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
  const date = `${pad(t.getFullYear(), 4)}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  return `${date} ${clock}${fraction(t.getMilliseconds() * 1e6)} ${offset} ${zoneName(t)} m=+${(sinceStartMs / 1000).toFixed(9)}`;
}
