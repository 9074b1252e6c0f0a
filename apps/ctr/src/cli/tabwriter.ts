/** Go's text/tabwriter, the part ctr uses: cells end at '\t', text after a line's last tab is
 *  not a cell, and a column is as wide as its widest cell plus padding within a block of
 *  consecutive lines that have that column. ctr prints every table through one of these, so
 *  the same algorithm gives the same alignment, trailing spaces included. */
export interface TabwriterOptions {
  minwidth: number;
  tabwidth: number;
  padding: number;
  padchar: " " | "\t";
}

/** ctr's usual writer: `tabwriter.NewWriter(os.Stdout, 1, 8, 1, ' ', 0)`. */
export const SPACES: TabwriterOptions = { minwidth: 1, tabwidth: 8, padding: 1, padchar: " " };
/** `content ls`/`content active`: `tabwriter.NewWriter(os.Stdout, 1, 8, 1, '\t', 0)`. */
export const TABS: TabwriterOptions = { minwidth: 1, tabwidth: 8, padding: 1, padchar: "\t" };

const width = (s: string) => [...s].length;

export function formatTabs(text: string, o: TabwriterOptions = SPACES): string {
  const trailingNewline = text.endsWith("\n");
  const lines = (trailingNewline ? text.slice(0, -1) : text).split("\n").map((l) => l.split("\t"));
  const out: string[] = [];
  const widths: number[] = [];

  const pad = (textw: number, cellw: number): string => {
    if (o.padchar === "\t") {
      const w = Math.ceil(cellw / o.tabwidth) * o.tabwidth;
      return "\t".repeat(Math.ceil((w - textw) / o.tabwidth));
    }
    return " ".repeat(cellw - textw);
  };

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      let s = "";
      line.forEach((cell, j) => {
        s += cell;
        if (j < widths.length && j < line.length - 1) s += pad(width(cell), widths[j]!);
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t]!.length - 1) continue;
      writeLines(line0, t);
      line0 = t;
      let w = o.minwidth;
      for (; t < line1; t++) {
        const line = lines[t]!;
        if (column >= line.length - 1) break;
        w = Math.max(w, width(line[column]!) + o.padding);
      }
      widths.push(w);
      format(line0, t);
      widths.pop();
      line0 = t;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join("\n") + (trailingNewline ? "\n" : "");
}
