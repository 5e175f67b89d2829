// What each format's compiler hands to the loader before the two are merged and cross-checked.
import type { Backend, Listener, SourceRef } from './model';

export interface CompiledPart {
  listeners: { listener: Listener; source: SourceRef; field: string }[];
  backends: { backend: Backend; source: SourceRef; field: string }[];
  /** Native backends with `builtin: demo`. */
  demoBackends: string[];
}

export function emptyPart(): CompiledPart {
  return { listeners: [], backends: [], demoBackends: [] };
}
