/** Go's `time.ParseDuration`, which containerd uses for `[timeouts]` and plugin durations. */

const nanosPerUnit: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // µ (micro sign)
  "\u03bcs": 1e3, // μ (Greek mu)
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const maxNanos = 2 ** 63 - 1;

/**
 * Parses a Go duration ("5s", "100ms", "1m30s", "1.5h", "-2s", "0") into milliseconds,
 * possibly fractional ("100ns" is 0.0001). Throws with Go's wording on bad input.
 */
export function parseDuration(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new Error(`invalid duration ${JSON.stringify(text)}`);

  let nanos = 0;
  const component = /^(\d*)(?:\.(\d*))?([^\d.]*)/;
  while (rest !== "") {
    const m = component.exec(rest);
    const [whole, int = "", frac, unit = ""] = m ?? [];
    if (!whole || (int === "" && (frac === undefined || frac === ""))) {
      throw new Error(`invalid duration ${JSON.stringify(text)}`);
    }
    if (unit === "") throw new Error(`missing unit in duration ${JSON.stringify(text)}`);
    const scale = nanosPerUnit[unit];
    if (scale === undefined) {
      throw new Error(`unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(text)}`);
    }
    nanos += Number(`${int || "0"}.${frac || "0"}`) * scale;
    if (nanos > maxNanos) throw new Error(`invalid duration ${JSON.stringify(text)}`);
    rest = rest.slice(whole.length);
  }
  return (sign * nanos) / 1e6;
}
