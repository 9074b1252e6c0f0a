/** The number and time formats ctr prints, so that columns read the same as Go ctr's. */

const decimalUnits = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const binaryUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/** go-units HumanSize: decimal units, 4 significant digits ("405B", "1.295MB"); `content ls`. */
export function humanSize(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1000 && i < decimalUnits.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number.parseFloat(v.toPrecision(4))}${decimalUnits[i]}`;
}

/** containerd's progress.Bytes: binary units, one decimal ("1.2 MiB", "0.0 B"); `images ls`. */
export function bytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < binaryUnits.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${binaryUnits[i]}`;
}

/** go-units HumanDuration ("12 seconds", "About a minute"); `content ls` AGE. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

const durationUnits: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration ("1h30m", "500ms", "10s"; a bare "0" is zero) in milliseconds. */
export function parseDuration(s: string, flag = "duration"): number {
  if (s === "0" || s === "") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * durationUnits[m[2]!]!;
    end = re.lastIndex;
  }
  if (end !== s.length || end === 0)
    throw new Error(`invalid ${flag} ${JSON.stringify(s)}: want a duration such as 10s, 1m30s`);
  return total;
}

/** RFC 3339 in UTC with whole seconds, as Go's time.RFC3339 prints a UTC time. */
export const rfc3339 = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;

/** RFC 3339 with trimmed fractional seconds, as Go's time.RFC3339Nano prints. */
export function rfc3339Nano(d: Date): string {
  const iso = d.toISOString();
  const frac = iso.slice(20, 23).replace(/0+$/, "");
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ""}Z`;
}

/** A protobuf Timestamp as Go marshals a time.Time to JSON (RFC 3339, nanoseconds with trailing
 *  zeros trimmed). */
export function timestampRfc3339Nano(t: { seconds: bigint; nanos: number }): string {
  const base = new Date(Number(t.seconds) * 1000).toISOString().slice(0, 19);
  const frac = String(t.nanos).padStart(9, "0").replace(/0+$/, "");
  return `${base}${frac ? `.${frac}` : ""}Z`;
}
