import { expect, test } from "bun:test";
import { MetricsRegistry } from "./registry.ts";

test("exposition 0.0.4: HELP and TYPE lines, labels, escaping, sorted families", async () => {
  const r = new MetricsRegistry({ process: false });
  const c = r.counter("b_requests_total", 'Requests with "quotes", a back\\slash\nand a newline.', ["path"]);
  c.labels('/a"b\\c\nd').inc();
  c.labels("/plain").inc(2.5);
  r.gauge("a_temperature", "A gauge.").set(-1.5);
  r.counter("c_unused_total", "No series yet.", ["x"]); // a labelled metric with no series is omitted
  expect(await r.expose()).toBe(
    [
      "# HELP a_temperature A gauge.",
      "# TYPE a_temperature gauge",
      "a_temperature -1.5",
      '# HELP b_requests_total Requests with "quotes", a back\\\\slash\\nand a newline.',
      "# TYPE b_requests_total counter",
      'b_requests_total{path="/a\\"b\\\\c\\nd"} 1',
      'b_requests_total{path="/plain"} 2.5',
      "",
    ].join("\n"),
  );
});

test("histograms: cumulative buckets with le, +Inf, sum and count", async () => {
  const r = new MetricsRegistry({ process: false });
  const h = r.histogram("lat_seconds", "Latency.", ["m"], [0.1, 1, 10]);
  for (const v of [0.05, 0.1, 0.5, 20]) h.labels("x").observe(v);
  expect(await r.expose()).toBe(
    [
      "# HELP lat_seconds Latency.",
      "# TYPE lat_seconds histogram",
      'lat_seconds_bucket{m="x",le="0.1"} 2',
      'lat_seconds_bucket{m="x",le="1"} 3',
      'lat_seconds_bucket{m="x",le="10"} 3',
      'lat_seconds_bucket{m="x",le="+Inf"} 4',
      'lat_seconds_sum{m="x"} 20.65',
      'lat_seconds_count{m="x"} 4',
      "",
    ].join("\n"),
  );
});

test("special values and unlabelled metrics start at 0", async () => {
  const r = new MetricsRegistry({ process: false });
  r.counter("zero_total", "Z.");
  const g = r.gauge("g", "G.", ["k"]);
  g.labels("inf").set(Number.POSITIVE_INFINITY);
  g.labels("ninf").set(Number.NEGATIVE_INFINITY);
  g.labels("nan").set(Number.NaN);
  const text = await r.expose();
  expect(text).toContain('g{k="inf"} +Inf\ng{k="ninf"} -Inf\ng{k="nan"} NaN\n');
  expect(text).toContain("zero_total 0\n");
});

test("refuses bad names, duplicates, wrong label counts and decreasing counters", () => {
  const r = new MetricsRegistry({ process: false });
  expect(() => r.counter("1bad", "x")).toThrow("not valid");
  expect(() => r.counter("ok_total", "x", ["__reserved"])).toThrow("not valid");
  expect(() => r.histogram("h", "x", ["le"])).toThrow("not valid");
  r.counter("dup_total", "x");
  expect(() => r.gauge("dup_total", "x")).toThrow("already registered");
  const c = r.counter("two_total", "x", ["a", "b"]);
  expect(() => c.labels("only-one")).toThrow("want 2 label values");
  expect(() => c.labels("a", "b").inc(-1)).toThrow("only goes up");
  expect(() => r.histogram("h2", "x", [], [1, 1])).toThrow("strictly increasing");
});

test("collectors run before each exposition", async () => {
  const r = new MetricsRegistry({ process: false });
  const g = r.gauge("scrapes", "Scrapes so far.");
  let n = 0;
  r.collect(() => g.set(++n));
  expect(await r.expose()).toContain("scrapes 1\n");
  expect(await r.expose()).toContain("scrapes 2\n");
});
