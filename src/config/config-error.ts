// Config errors: every problem names the file, the 1-based line and the field path, so
// `gatemesh validate` output can be pasted into an editor's "go to line" (file:line: field: what).

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly file: string;
  /** 1-based line; 1 when the problem is about the whole file (cannot read, empty directory). */
  readonly line: number;
  /** Field path inside the document, e.g. `routes[0].backends[0].weight`, or `(yaml)` / `(file)`. */
  readonly field: string;
  /** The message without the `file:line: field: ` prefix. */
  readonly what: string;

  constructor(file: string, line: number, field: string, what: string) {
    super(`${file}:${line}: ${field}: ${what}`);
    this.file = file;
    this.line = line;
    this.field = field;
    this.what = what;
  }
}

/**
 * Thrown by loadConfig when more than one fatal error was found. It is itself a ConfigError
 * carrying the first error's file/line/field, so callers can catch ConfigError alone; the
 * message lists every error, one per line.
 */
export class AggregateConfigError extends ConfigError {
  override name = 'AggregateConfigError';
  readonly errors: ConfigError[];

  constructor(errors: ConfigError[]) {
    const first = errors[0];
    super(first.file, first.line, first.field, first.what);
    this.errors = errors;
    this.message = errors.map((e) => e.message).join('\n');
  }
}

/**
 * Collects what a config load finds. Three severities:
 * - fatal: the config cannot be served as written (syntax, native schema, Gateway/listener level);
 * - dropped: one object (an HTTPRoute, Service, EndpointSlice, ReferenceGrant) is invalid and left
 *   out, the rest still loads ("error: " lines in GatewayConfig.warnings);
 * - warnings: something was ignored on purpose (unknown kind, other controller's Gateway).
 */
export class Diagnostics {
  readonly fatal: ConfigError[] = [];
  readonly dropped: ConfigError[] = [];
  readonly warnings: string[] = [];

  addFatal(file: string, line: number, field: string, what: string): void {
    this.fatal.push(new ConfigError(file, line, field, what));
  }

  addDropped(file: string, line: number, field: string, what: string): void {
    this.dropped.push(new ConfigError(file, line, field, what));
  }

  warn(file: string, line: number, what: string): void {
    this.warnings.push(`${file}:${line}: ${what}`);
  }
}
