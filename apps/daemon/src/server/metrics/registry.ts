/** A small Prometheus registry: counters, gauges and histograms with labels, exposed in the
 *  text format 0.0.4. Collectors run just before each exposition, for values read at scrape
 *  time (process memory, plugin states). */

import { processMetrics } from "./process.ts";

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** prometheus.DefBuckets, which go-grpc-prometheus uses for handling time. */
export const defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

type MetricType = "counter" | "gauge" | "histogram";

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function labelPairs(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

abstract class Metric<Child> {
  protected readonly children = new Map<string, { values: string[]; child: Child }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
  ) {
    if (!metricName.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    for (const l of labelNames) {
      if (!labelName.test(l) || l.startsWith("__") || l === "le") {
        throw new Error(`${name}: label name ${JSON.stringify(l)} is not valid`);
      }
    }
  }

  /** A metric without labels has its one series from the start, so it shows as 0. */
  protected init(): void {
    if (this.labelNames.length === 0) this.labels();
  }

  protected abstract newChild(): Child;
  protected abstract lines(name: string, names: readonly string[], values: string[], child: Child): string[];

  /** The series for these label values, in labelNames order; created on first use. */
  labels(...values: string[]): Child {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: want ${this.labelNames.length} label values, got ${values.length}`);
    }
    const key = values.join("\u0000");
    let entry = this.children.get(key);
    if (!entry) {
      entry = { values, child: this.newChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  /** Drops every series (for gauges rebuilt at each scrape). */
  reset(): void {
    this.children.clear();
    this.init();
  }

  expose(): string {
    if (this.children.size === 0) return "";
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { values, child } of this.children.values()) {
      out.push(...this.lines(this.name, this.labelNames, values, child));
    }
    return `${out.join("\n")}\n`;
  }
}

export class CounterChild {
  value = 0;
  inc(by = 1): void {
    if (by < 0) throw new Error("a counter only goes up");
    this.value += by;
  }
  /** For a total kept elsewhere and read at scrape time (CPU seconds): client_golang's CounterFunc. */
  setTotal(total: number): void {
    this.value = total;
  }
}

export class Counter extends Metric<CounterChild> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "counter", labelNames);
    this.init();
  }
  protected newChild() {
    return new CounterChild();
  }
  protected lines(name: string, names: readonly string[], values: string[], c: CounterChild) {
    return [`${name}${labelPairs(names, values)} ${formatValue(c.value)}`];
  }
  /** For a counter without labels. */
  inc(by = 1): void {
    this.labels().inc(by);
  }
}

export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

export class Gauge extends Metric<GaugeChild> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "gauge", labelNames);
    this.init();
  }
  protected newChild() {
    return new GaugeChild();
  }
  protected lines(name: string, names: readonly string[], values: string[], g: GaugeChild) {
    return [`${name}${labelPairs(names, values)} ${formatValue(g.value)}`];
  }
  /** For a gauge without labels. */
  set(v: number): void {
    this.labels().set(v);
  }
}

export class HistogramChild {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    // Per-bucket counts; made cumulative at exposition.
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= this.buckets[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

export class Histogram extends Metric<HistogramChild> {
  readonly buckets: readonly number[];
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = defaultBuckets,
  ) {
    super(name, help, "histogram", labelNames);
    const finite = buckets.filter((b) => b !== Number.POSITIVE_INFINITY);
    for (let i = 1; i < finite.length; i++) {
      if (!(finite[i]! > finite[i - 1]!)) throw new Error(`${name}: buckets must be strictly increasing`);
    }
    this.buckets = finite;
    this.init();
  }
  protected newChild() {
    return new HistogramChild(this.buckets);
  }
  protected lines(name: string, names: readonly string[], values: string[], h: HistogramChild) {
    const out: string[] = [];
    let cumulative = 0;
    h.buckets.forEach((b, i) => {
      cumulative += h.counts[i]!;
      out.push(`${name}_bucket${labelPairs(names, values, `le="${formatValue(b)}"`)} ${cumulative}`);
    });
    out.push(`${name}_bucket${labelPairs(names, values, 'le="+Inf"')} ${h.count}`);
    out.push(`${name}_sum${labelPairs(names, values)} ${formatValue(h.sum)}`);
    out.push(`${name}_count${labelPairs(names, values)} ${h.count}`);
    return out;
  }
  /** For a histogram without labels. */
  observe(v: number): void {
    this.labels().observe(v);
  }
}

type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly collectors: (() => void | Promise<void>)[] = [];

  /** Like client_golang's default registry, it starts with the process_* metrics. */
  constructor(options: { process?: boolean } = {}) {
    if (options.process ?? true) processMetrics(this);
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets?: readonly number[],
  ): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs before every exposition, to set values read at scrape time. */
  collect(fn: () => void | Promise<void>): void {
    this.collectors.push(fn);
  }

  /** The text exposition format, version 0.0.4, metric families sorted by name. */
  async expose(): Promise<string> {
    for (const c of this.collectors) await c();
    return [...this.metrics.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((m) => m.expose())
      .join("");
  }

  private add<M extends AnyMetric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is already registered`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

export const contentType = "text/plain; version=0.0.4; charset=utf-8";
