// The default random source of the balancers: mulberry32 (a 32-bit state, passes PractRand to
// 2^32 outputs), seeded once per thread from Math.random. Not for secrets, like Math.random; here
// because Math.random costs ~15 ns and allocates on refills, and because one module-level
// function keeps every balancer's call site monomorphic so TurboFan inlines it and the double it
// returns is never boxed: picks allocate nothing.

/** State in a typed array: an int32 never becomes a heap number, whatever the Smi width. */
const state = new Int32Array(1);
state[0] = Math.floor(Math.random() * 0x100000000) | 0;

/** Uniform in [0, 1). */
export function fastRandom(): number {
  const a = (state[0] = (state[0] + 0x6d2b79f5) | 0);
  let t = Math.imul(a ^ (a >>> 15), 1 | a);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
