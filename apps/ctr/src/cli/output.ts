/** List output shared by every list/info command: a table aligned as Go ctr aligns it
 *  (tabwriter), `--format json` (an array of objects keyed by the lower-case column names),
 *  or `-q` (ids only).
 *
 *    printList(images, {
 *      columns: [col("REF", (i) => i.name, { key: "name" }), col("SIZE", (i) => bytes(i.size), { json: (i) => i.size })],
 *      id: (i) => i.name, format: args.format, quiet: args.quiet,
 *    }); */
import { formatTabs, SPACES, type TabwriterOptions } from "./tabwriter.ts";

export interface Column<T> {
  header: string;
  /** JSON key; the header in lower case with spaces as underscores by default. */
  key: string;
  cell(row: T): string;
  /** JSON value; the cell's text by default. */
  json(row: T): unknown;
}

export function col<T>(
  header: string,
  cell: (row: T) => string,
  o: { key?: string; json?: (row: T) => unknown } = {},
): Column<T> {
  return {
    header,
    key: o.key ?? header.toLowerCase().replaceAll(" ", "_"),
    cell,
    json: o.json ?? cell,
  };
}

export interface ListOptions<T> {
  columns: Column<T>[];
  /** What `-q` prints per row. */
  id?: (row: T) => string;
  format?: string;
  quiet?: boolean;
  writer?: TabwriterOptions;
  /** Go ctr ends most table lines with a tab, padding the last column; a few don't, and
   *  `content active` ends only its header with one. */
  trailingTab?: boolean | "header";
}

export type OutputFormat = "table" | "json";

export function checkFormat(format: string | undefined): OutputFormat {
  if (format === undefined || format === "" || format === "table") return "table";
  if (format === "json") return "json";
  throw new Error(`invalid --format ${JSON.stringify(format)}: want table or json`);
}

export const write = (s: string) => {
  process.stdout.write(s);
};

export function renderList<T>(rows: T[], o: ListOptions<T>): string {
  const format = checkFormat(o.format);
  if (format === "json") {
    const objects = rows.map((r) => Object.fromEntries(o.columns.map((c) => [c.key, c.json(r)])));
    return `${JSON.stringify(objects, null, 2)}\n`;
  }
  if (o.quiet && o.id) return rows.map((r) => `${o.id!(r)}\n`).join("");
  const t = o.trailingTab ?? true;
  const lines = [o.columns.map((c) => c.header).join("\t") + (t ? "\t\n" : "\n")];
  for (const r of rows) lines.push(o.columns.map((c) => c.cell(r)).join("\t") + (t === true ? "\t\n" : "\n"));
  return formatTabs(lines.join(""), o.writer ?? SPACES);
}

export function printList<T>(rows: T[], o: ListOptions<T>): void {
  write(renderList(rows, o));
}

/** One object as JSON (info commands), indented as Go's json.MarshalIndent(v, "", "    "). */
export function printJSON(v: unknown): void {
  write(`${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x), 4)}\n`);
}

/** Labels as Go ctr prints them: sorted `k=v` joined by commas. */
export function labelList(labels: Record<string, string> | undefined, empty = ""): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${labels![k]}`).join(",") : empty;
}
