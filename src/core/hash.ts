/**
 * 32-bit FNV-1a of a string's UTF-16 code units, then murmur3's finaliser (fmix32): FNV's low
 * bits alone spread short, similar keys (policy uids, replica identities) poorly. Deterministic
 * across processes, so every replica and every restart derives the same phase and owner.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
