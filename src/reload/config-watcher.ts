// Watches the config file or directory and calls back once a burst of changes has settled.
// The *directory* is watched in both cases: editors save by writing a new file and renaming it
// over the old one (vim, most IDEs, `kubectl`-style atomic writes, Kubernetes ConfigMap volumes
// swap a symlink), and an inotify watch on the old file would go quiet after the first save.
import fs from 'node:fs';
import path from 'node:path';

/** Quiet period before a burst of file events triggers one reload, ms (an editor save is 2–4 events). */
export const DEFAULT_DEBOUNCE_MS = 100;

export interface ConfigWatcher {
  close(): void;
}

export interface ConfigWatcherOptions {
  debounceMs?: number;
  /**
   * A burst settled. `files`: the config files the events named (paths as loadConfig reads them),
   * or null when an event did not say which file (then every file must be checked).
   */
  onChange(files: Set<string> | null): void;
  onError(err: Error): void;
}

export function createConfigWatcher(target: string, opts: ConfigWatcherOptions): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  let isDir = false;
  try {
    isDir = fs.statSync(target).isDirectory();
  } catch {
    // Watch the parent: the file may appear later.
  }
  const dir = isDir ? target : path.dirname(target);
  const base = path.basename(target);
  // Directory config: every *.yaml/*.yml counts (loadConfig reads those); a file: only that name.
  const relevant = (name: string | null): boolean =>
    name === null || (isDir ? /\.ya?ml$/i.test(name) || name.startsWith('..') : name === base);
  let timer: NodeJS.Timeout | null = null;
  let files: Set<string> | null = new Set();
  const fire = (): void => {
    timer = null;
    const changed = files;
    files = new Set();
    opts.onChange(changed);
  };
  const watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
    const file = typeof name === 'string' ? name : null;
    if (!relevant(file)) return;
    // A name that is not a config file (a ConfigMap volume's `..data` symlink swap changes every
    // file without an event for any of them) or no name at all: check every file.
    if (file === null || !isDir || !/\.ya?ml$/i.test(file)) files = null;
    else if (files !== null) files.add(path.join(target, file));
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  });
  watcher.on('error', (err) => opts.onError(err));
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      watcher.close();
    },
  };
}
