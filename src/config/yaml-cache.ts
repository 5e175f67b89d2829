// Parsed YAML files kept between config loads, so a reload parses only the files that changed.
// The yaml package parses about 2 MB/s here (bench/reload.ts), so at 10,000 HTTPRoutes the parse,
// not the route table, is what a reload would otherwise cost.
//
// A file is reused when its size and mtime are unchanged (git's index does the same), and, when
// they did change, re-read and reused anyway if its sha256 is unchanged (an editor that rewrites
// a file without changing it, a `touch`). A file whose mtime is within RACY_MS of the moment it
// was cached is "racily clean" (git's term: a same-size edit in the same mtime tick would be
// missed), so it is always re-hashed until it is older than that.
//
// The parsed yaml Document (node tree with source ranges) is what answers `lineOf`, and it is
// ~12 KB per HTTPRoute: 10,000 routes would keep ~125 MB alive. So a cached document keeps only
// its plain value, its text and the lines asked for so far; the tree is dropped at the end of
// each load and re-parsed (that one file) only if a later load asks for a line not asked before.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Diagnostics } from './config-error';
import { parseYamlText, type SourceDoc } from './yaml-source';

/** mtime granularity we do not trust: 2 s covers FAT/SMB's 2 s and every coarser-than-ms clock. */
const RACY_MS = 2000;

interface Entry {
  file: string;
  size: number;
  mtimeMs: number;
  /** Date.now() when the file was read. */
  readAtMs: number;
  sha256: string;
  text: string;
  docs: CachedDoc[];
  /** The parsed documents with their node trees, while a load may still ask for lines. */
  live: SourceDoc[] | null;
}

/** A document as the cache keeps it: the value, and lines remembered per path. */
class CachedDoc implements SourceDoc {
  readonly file: string;
  readonly value: unknown;
  readonly line: number;
  private readonly lines = new Map<string, number>();

  constructor(
    private readonly entry: Entry,
    private readonly index: number,
    doc: SourceDoc,
    private readonly onLive: (e: Entry) => void,
  ) {
    this.file = doc.file;
    this.value = doc.value;
    this.line = doc.line;
  }

  readonly lineOf = (path: readonly (string | number)[]): number => {
    // Map keys and sequence indexes are both matched by their text, so one key covers 0 and '0'.
    const key = path.join('\u0000');
    let line = this.lines.get(key);
    if (line === undefined) {
      const e = this.entry;
      if (e.live === null) {
        // Same text, same documents in the same order: a re-parse cannot fail where the first did not.
        e.live = parseYamlText(e.file, e.text, new Diagnostics());
        this.onLive(e);
      }
      line = e.live[this.index].lineOf(path);
      this.lines.set(key, line);
    }
    return line;
  };
}

export interface YamlCacheStats {
  /** Files served from the cache without reading them. */
  reused: number;
  /** Files read and hashed whose content was unchanged. */
  rehashed: number;
  /** Files parsed. */
  parsed: number;
  /** Cached files the load did not read (no longer part of the config). */
  removed: number;
}

export interface YamlCache {
  /** Like readYamlFile: the documents of `file`, or [] with fatal diagnostics. Files that fail are not cached. */
  read(file: string, diag: Diagnostics): SourceDoc[];
  /**
   * For the next load only: the files that may have changed (the file watch saw events for them),
   * so the others are reused without even a stat. null (the default) checks every file.
   */
  expectChanges(files: ReadonlySet<string> | null): void;
  /** Ends one load: drops entries for files it did not read (gone from the config) and returns its counters. */
  endLoad(): YamlCacheStats;
  /** Files cached. */
  readonly size: number;
}

export function createYamlCache(): YamlCache {
  const entries = new Map<string, Entry>();
  const seen = new Set<string>();
  /** Entries holding a node tree, dropped at endLoad. */
  const live = new Set<Entry>();
  const onLive = (e: Entry): void => void live.add(e);
  let stats: YamlCacheStats = { reused: 0, rehashed: 0, parsed: 0, removed: 0 };

  let hint: ReadonlySet<string> | null = null;

  function read(file: string, diag: Diagnostics): SourceDoc[] {
    seen.add(file);
    if (hint !== null && !hint.has(file)) {
      const known = entries.get(file);
      if (known !== undefined) {
        stats.reused++;
        return known.docs;
      }
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (err) {
      entries.delete(file);
      diag.addFatal(file, 1, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return [];
    }
    const old = entries.get(file);
    if (old !== undefined && old.size === st.size && old.mtimeMs === st.mtimeMs && old.readAtMs - old.mtimeMs > RACY_MS) {
      stats.reused++;
      return old.docs;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      entries.delete(file);
      diag.addFatal(file, 1, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return [];
    }
    const sha256 = createHash('sha256').update(text).digest('hex');
    const readAtMs = Date.now();
    if (old !== undefined && old.sha256 === sha256) {
      stats.rehashed++;
      old.size = st.size;
      old.mtimeMs = st.mtimeMs;
      old.readAtMs = readAtMs;
      return old.docs;
    }
    stats.parsed++;
    const before = diag.fatal.length;
    const parsed = parseYamlText(file, text, diag);
    if (diag.fatal.length !== before) {
      entries.delete(file);
      return parsed;
    }
    const entry: Entry = { file, size: st.size, mtimeMs: st.mtimeMs, readAtMs, sha256, text, docs: [], live: parsed };
    entry.docs = parsed.map((d, i) => new CachedDoc(entry, i, d, onLive));
    live.add(entry);
    entries.set(file, entry);
    return entry.docs;
  }

  return {
    read,
    expectChanges(files) {
      hint = files;
    },
    endLoad() {
      hint = null;
      for (const e of live) e.live = null;
      live.clear();
      for (const file of entries.keys()) {
        if (seen.has(file)) continue;
        entries.delete(file);
        stats.removed++;
      }
      seen.clear();
      const out = stats;
      stats = { reused: 0, rehashed: 0, parsed: 0, removed: 0 };
      return out;
    },
    get size() {
      return entries.size;
    },
  };
}
