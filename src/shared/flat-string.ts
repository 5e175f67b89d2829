// V8 keeps a string built by `+` as a tree (a ConsString) until something needs it flat. A memo
// that is written many times is flattened once instead: ToNumber flattens its argument in place
// (the flatstr idiom), so every later write copies it as one run.

/** `s`, flattened in place. */
export function flat(s: string): string {
  (s as unknown as number) | 0;
  return s;
}
