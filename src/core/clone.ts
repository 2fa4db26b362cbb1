// A deep copy of plain JSON data (objects, arrays, numbers, strings, booleans, null).
// Written by hand because the Level 5 stages copy their state every tick (the engine never
// mutates its input), and structuredClone's general machinery (cycles, typed arrays, Maps)
// made that copy most of a simulated tick's cost. Keys holding undefined are kept as
// undefined, which JSON drops, so a copy and its JSON round trip decide alike.
export function cloneData<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneData(v[i]);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = cloneData((v as Record<string, unknown>)[k]);
  return out as T;
}
