/** Go's JSON and time output, for info commands whose output users compare with Go ctr's. */
import type { Timestamp } from "@bufbuild/protobuf/wkt";

/** json.MarshalIndent(v, "", "    "), including Go's escaping of <, > and &. */
export const goJSON = (v: unknown, indent = 4) =>
  JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x), indent).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );

/** A protobuf timestamp as Go's time.Time marshals it (RFC 3339, nanoseconds trimmed, UTC). */
export function goTime(t: Timestamp | undefined): string {
  const seconds = t ? Number(t.seconds) : -62135596800;
  const nanos = t?.nanos ?? 0;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  const frac = nanos ? `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}` : "";
  return `${base}${frac}Z`;
}

/** Go's time.Time.String() in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`. */
export function goTimeString(t: Timestamp | undefined): string {
  return goTime(t).replace("T", " ").replace("Z", " +0000 UTC");
}
