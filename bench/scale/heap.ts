// Where the operator's heap goes (issue 20): a heap snapshot of each operator taken at the
// window's end (node's --heapsnapshot-signal, after the RSS was read, since writing one
// doubles the process's memory for a moment), summarised by what keeps the bytes alive:
// retained sizes (the dominator tree of the snapshot's graph) of the Operator's fields, of
// every policy object as held (full or stub) and of every policy's reconciler memory.
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';

// Not figures.ts's: that module reads the sandbox's settings on import, and tests import this one.
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** The snapshot as typed arrays: nodes with their self size and edges (CSR). */
export interface HeapGraph {
  strings: string[];
  nodeType: Uint8Array;
  nodeName: Uint32Array;
  selfSize: Float64Array;
  firstEdge: Uint32Array;
  edgeType: Uint8Array;
  edgeName: Uint32Array;
  edgeTo: Uint32Array;
  nodeTypes: string[];
  edgeTypes: string[];
}

interface RawSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export function parseSnapshot(text: string): HeapGraph {
  const raw = JSON.parse(text) as RawSnapshot;
  const m = raw.snapshot.meta;
  const nf = m.node_fields.length;
  const ef = m.edge_fields.length;
  const [ti, ni, si, ei] = ['type', 'name', 'self_size', 'edge_count'].map((f) => m.node_fields.indexOf(f));
  const [eti, eni, eto] = ['type', 'name_or_index', 'to_node'].map((f) => m.edge_fields.indexOf(f));
  const n = raw.nodes.length / nf;
  const g: HeapGraph = {
    strings: raw.strings,
    nodeType: new Uint8Array(n),
    nodeName: new Uint32Array(n),
    selfSize: new Float64Array(n),
    firstEdge: new Uint32Array(n + 1),
    edgeType: new Uint8Array(raw.edges.length / ef),
    edgeName: new Uint32Array(raw.edges.length / ef),
    edgeTo: new Uint32Array(raw.edges.length / ef),
    nodeTypes: m.node_types[0],
    edgeTypes: m.edge_types[0],
  };
  for (let i = 0; i < n; i++) {
    const b = i * nf;
    g.nodeType[i] = raw.nodes[b + ti!]!;
    g.nodeName[i] = raw.nodes[b + ni!]!;
    g.selfSize[i] = raw.nodes[b + si!]!;
    g.firstEdge[i + 1] = g.firstEdge[i]! + raw.nodes[b + ei!]!;
  }
  for (let e = 0; e < g.edgeTo.length; e++) {
    const b = e * ef;
    g.edgeType[e] = raw.edges[b + eti!]!;
    g.edgeName[e] = raw.edges[b + eni!]!;
    g.edgeTo[e] = raw.edges[b + eto!]! / nf;
  }
  return g;
}

/**
 * Retained size of every node: its own plus that of every node it dominates (reachable from
 * the root only through it). Weak edges keep nothing alive. Cooper, Harvey and Kennedy's
 * iterative dominators over a reverse postorder; node 0 is the snapshot's root.
 */
export function retainedSizes(g: HeapGraph): { retained: Float64Array; reachable: Uint8Array } {
  const n = g.selfSize.length;
  const weak = g.edgeTypes.indexOf('weak');
  const order = postorder(g, weak);
  const po = new Int32Array(n).fill(-1);
  order.forEach((v, i) => {
    po[v] = i;
  });
  const preds = predecessors(g, weak, po);
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (po[a]! < po[b]!) a = idom[a]!;
      while (po[b]! < po[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = order.length - 2; i >= 0; i--) {
      const v = order[i]!;
      let d = -1;
      for (let k = preds.first[v]!; k < preds.first[v + 1]!; k++) {
        const p = preds.list[k]!;
        if (idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== -1 && idom[v] !== d) {
        idom[v] = d;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(n);
  for (const v of order) retained[v] = g.selfSize[v]!;
  for (const v of order) if (v !== 0 && idom[v]! >= 0) retained[idom[v]!]! += retained[v]!;
  const reachable = new Uint8Array(n);
  for (const v of order) reachable[v] = 1;
  return { retained, reachable };
}

function postorder(g: HeapGraph, weak: number): number[] {
  const n = g.selfSize.length;
  const seen = new Uint8Array(n);
  const out: number[] = [];
  const stack: number[] = [0];
  const next = new Uint32Array(n);
  seen[0] = 1;
  next[0] = g.firstEdge[0]!;
  while (stack.length > 0) {
    const v = stack[stack.length - 1]!;
    let e = next[v]!;
    while (e < g.firstEdge[v + 1]! && (g.edgeType[e] === weak || seen[g.edgeTo[e]!])) e++;
    next[v] = e + 1;
    if (e >= g.firstEdge[v + 1]!) {
      out.push(v);
      stack.pop();
      continue;
    }
    const w = g.edgeTo[e]!;
    seen[w] = 1;
    next[w] = g.firstEdge[w]!;
    stack.push(w);
  }
  return out;
}

function predecessors(g: HeapGraph, weak: number, po: Int32Array) {
  const n = g.selfSize.length;
  const count = new Uint32Array(n + 1);
  const each = (f: (from: number, to: number) => void) => {
    for (let v = 0; v < n; v++) {
      if (po[v] === -1) continue;
      for (let e = g.firstEdge[v]!; e < g.firstEdge[v + 1]!; e++)
        if (g.edgeType[e] !== weak) f(v, g.edgeTo[e]!);
    }
  };
  each((_, to) => {
    count[to + 1]!++;
  });
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const first = Uint32Array.from(count);
  const list = new Uint32Array(count[n]!);
  const fill = Uint32Array.from(count);
  each((from, to) => {
    list[fill[to]!++] = from;
  });
  return { first, list };
}

const nameOf = (g: HeapGraph, v: number) => g.strings[g.nodeName[v]!] ?? '';
const typeOf = (g: HeapGraph, v: number) => g.nodeTypes[g.nodeType[v]!] ?? '';

/** The node a property (or a private field, `#name`) of `v` points to. */
export function prop(g: HeapGraph, v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const property = g.edgeTypes.indexOf('property');
  for (let e = g.firstEdge[v]!; e < g.firstEdge[v + 1]!; e++)
    if (g.edgeType[e] === property && g.strings[g.edgeName[e]!] === name) return g.edgeTo[e];
  return undefined;
}

/** The objects a Map holds as keys or values (its hash table's object entries). */
export function mapObjects(g: HeapGraph, map: number | undefined): number[] {
  if (map === undefined) return [];
  const internal = g.edgeTypes.indexOf('internal');
  let table: number | undefined;
  for (let e = g.firstEdge[map]!; e < g.firstEdge[map + 1]!; e++)
    if (g.edgeType[e] === internal && g.strings[g.edgeName[e]!] === 'table') table = g.edgeTo[e];
  if (table === undefined) return [];
  const out: number[] = [];
  for (let e = g.firstEdge[table]!; e < g.firstEdge[table + 1]!; e++) {
    const w = g.edgeTo[e]!;
    if (typeOf(g, w) === 'object' && nameOf(g, w) !== 'system / Map') out.push(w);
  }
  return out;
}

function findObject(g: HeapGraph, className: string): number | undefined {
  for (let v = 0; v < g.selfSize.length; v++)
    if (typeOf(g, v) === 'object' && nameOf(g, v) === className) return v;
  return undefined;
}

/** The Operator's fields whose retained size the breakdown shows. */
const OPERATOR_FIELDS = [
  '#policies',
  '#byTarget',
  '#hpas',
  '#informers',
  '#scheduler',
  '#reconciler',
  '#targets',
  '#collector',
  'metrics',
  '#events',
] as const;

export interface HeapBreakdown {
  /** Everything reachable (what a full GC leaves), MiB. */
  liveMiB: number;
  /** Retained bytes of the Operator's fields (a field sharing objects with another keeps only its own). */
  fields: Record<string, number>;
  /** Each policy object as held: in full (owned) or its stub, and what one retains on average (bytes). */
  policies: { full: number; fullBytes: number; stub: number; stubBytes: number };
  /** The reconciler's memory of each policy it ticked (engine state, status, histories). */
  reconcilerMemory: { count: number; bytes: number };
  /** Node's Timeout objects (one per policy timer, and the process's own). */
  timers: { count: number; bytes: number };
  /** The largest constructors by self size: count and MiB. */
  top: Array<{ name: string; count: number; MiB: number }>;
}

export function heapBreakdown(g: HeapGraph): HeapBreakdown {
  const { retained, reachable } = retainedSizes(g);
  const op = findObject(g, 'Operator');
  const fields: Record<string, number> = {};
  for (const f of OPERATOR_FIELDS) {
    const v = prop(g, op, f);
    if (v !== undefined) fields[f] = retained[v]!;
  }
  const held = mapObjects(g, prop(g, prop(g, op, '#policies'), '#byUid'));
  const full = held.filter((p) => prop(g, prop(g, p, 'spec'), 'metrics') !== undefined);
  const stub = held.filter((p) => !full.includes(p));
  const mean = (vs: number[]) =>
    vs.length ? round(vs.reduce((a, v) => a + retained[v]!, 0) / vs.length, 0) : 0;
  const memory = mapObjects(g, prop(g, prop(g, op, '#reconciler'), '#memory'));
  let live = 0;
  const byName = new Map<string, { count: number; bytes: number }>();
  for (let v = 0; v < g.selfSize.length; v++) {
    if (!reachable[v]) continue;
    live += g.selfSize[v]!;
    const k = typeOf(g, v) === 'object' || typeOf(g, v) === 'closure' ? nameOf(g, v) : `(${typeOf(g, v)})`;
    const c = byName.get(k) ?? { count: 0, bytes: 0 };
    c.count++;
    c.bytes += g.selfSize[v]!;
    byName.set(k, c);
  }
  const timeouts = byName.get('Timeout') ?? { count: 0, bytes: 0 };
  return {
    liveMiB: round(live / 2 ** 20, 1),
    fields,
    policies: { full: full.length, fullBytes: mean(full), stub: stub.length, stubBytes: mean(stub) },
    reconcilerMemory: { count: memory.length, bytes: mean(memory) },
    timers: { count: timeouts.count, bytes: timeouts.bytes },
    top: [...byName]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 12)
      .map(([name, c]) => ({ name, count: c.count, MiB: round(c.bytes / 2 ** 20, 2) })),
  };
}

/**
 * Bytes per policy from one operator's breakdown: per watched policy (its object as a stub,
 * its timer, its target index entry: what a replica pays for a policy it does not own) and
 * what owning one adds (the full object over the stub, the reconciler's memory, its metric
 * series and the collector's share). Fields that also hold fixed parts (the registry's own
 * metrics, the collector's clients) are divided among the policies, which overstates them.
 */
export function perPolicyBytes(b: HeapBreakdown, watched: number, owned: number) {
  const f = (k: string) => b.fields[k] ?? 0;
  const timerBytes = b.timers.count > 0 ? b.timers.bytes / b.timers.count : 0;
  const stub = b.policies.stub > 0 ? b.policies.stubBytes : null;
  const perWatchedShared =
    (f('#byTarget') + f('#scheduler') + f('#informers') + f('#targets')) / watched + timerBytes;
  const perOwnedShared = owned > 0 ? (f('#reconciler') + f('metrics') + f('#collector')) / owned : 0;
  return {
    /** A watched policy this replica does not own (null when it owned every one: no stub measured). */
    watched: stub === null ? null : round(stub + perWatchedShared, 0),
    /** What owning a policy adds over watching it (null without a stub to compare with). */
    owned: stub === null ? null : round(b.policies.fullBytes - stub + perOwnedShared, 0),
    /** A policy watched and owned, held in full (a single replica's every policy). */
    watchedAndOwned: round(b.policies.fullBytes + perWatchedShared + perOwnedShared, 0),
  };
}

/** A breakdown with its bytes per policy, counted from the snapshot's own policies. */
export interface HeapFigures {
  breakdown: HeapBreakdown;
  perPolicy: ReturnType<typeof perPolicyBytes>;
}

export function heapFigures(b: HeapBreakdown | undefined): HeapFigures | null {
  if (!b) return null;
  const watched = b.policies.full + b.policies.stub;
  return watched > 0 ? { breakdown: b, perPolicy: perPolicyBytes(b, watched, b.policies.full) } : null;
}

/** Sends the signal and waits for the snapshot node writes into `dir` (its --diagnostic-dir): complete once its size holds and it ends its JSON. */
export async function takeSnapshot(
  pid: number,
  dir: string,
  timeoutMs = 300_000,
): Promise<string | undefined> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    const file = (existsSync(dir) ? readdirSync(dir) : []).find(
      (f) => f.endsWith('.heapsnapshot') && !before.has(f),
    );
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    // The snapshot ends with the strings table's closing brackets once node finished it.
    if (size === last && size > 0 && readTail(join(dir, file)).trimEnd().endsWith(']}'))
      return join(dir, file);
    last = size;
  }
  return undefined;
}

function readTail(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    const size = statSync(file).size;
    const n = readSync(fd, buf, 0, 16, Math.max(0, size - 16));
    return buf.subarray(0, n).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** Takes, summarises and removes one operator's snapshot. */
export async function snapshotBreakdown(pid: number, dir: string): Promise<HeapBreakdown | undefined> {
  const file = await takeSnapshot(pid, dir);
  if (!file) return undefined;
  try {
    return heapBreakdown(parseSnapshot(readFileSync(file, 'utf8')));
  } finally {
    rmSync(file, { force: true });
  }
}
