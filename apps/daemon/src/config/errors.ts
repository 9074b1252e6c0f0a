/** The one error the config module throws: it names the file, the dotted key and the line. */

export interface ConfigErrorLocation {
  /** The config file, or "command line" for a bad flag. */
  file: string;
  /** Dotted key as written in TOML, e.g. `grpc.max_recv_message_size`. */
  key?: string;
  line?: number;
  column?: number;
}

/** `/etc/x.toml:12: grpc.max_recv_message_size: must be a positive integer, got "abc"` */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly file: string;
  readonly key?: string;
  readonly line?: number;
  readonly column?: number;
  /** The message without the location prefix. */
  readonly reason: string;

  constructor(where: ConfigErrorLocation, reason: string, options?: ErrorOptions) {
    super(`${formatLocation(where)}: ${reason}`, options);
    this.file = where.file;
    this.key = where.key;
    this.line = where.line;
    this.column = where.column;
    this.reason = reason;
  }
}

/** `file:line:column: key` with the parts that are known; warnings use the same prefix. */
export function formatLocation({ file, key, line, column }: ConfigErrorLocation): string {
  let at = file;
  if (line !== undefined) at += `:${line}`;
  if (line !== undefined && column !== undefined) at += `:${column}`;
  return key === undefined ? at : `${at}: ${key}`;
}

/**
 * A value refused deep inside a decoder, before the file and line are known.
 * Thrown with the key path; the loader turns it into a ConfigError.
 */
export class Invalid extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** How a refused value is shown after "got": strings quoted, containers by kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean")
    return String(value);
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (value === null || value === undefined) return "nothing";
  return "a table";
}
