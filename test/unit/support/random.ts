/**
 * A small deterministic generator for property tests: the same seed gives the same cases on
 * every run and runtime, so a failure names a seed that reproduces it.
 */

/** mulberry32: a 32-bit PRNG, plenty for test data. */
export function rng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  const chance = (p: number) => next() < p;
  const string = (alphabet: string, min: number, max: number) => {
    let out = "";
    for (let i = int(min, max); i > 0; i--) out += alphabet[int(0, alphabet.length - 1)];
    return out;
  };
  return { next, int, pick, chance, string };
}

export type Rng = ReturnType<typeof rng>;
