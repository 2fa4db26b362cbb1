// The benchmark's heap breakdown (bench/scale/heap.ts): retained sizes from a snapshot's graph,
// and what it finds of the operator's policies in a real snapshot of this process.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeHeapSnapshot } from 'node:v8';
import { type HeapGraph, heapBreakdown, parseSnapshot, retainedSizes } from '../../bench/scale/heap.ts';
import { PolicyStore } from '../../src/operator/policy-store.ts';
import { policy } from '../reconciler/helpers.ts';

/** A graph of nodes with these self sizes and edges (node 0 the root). */
function graph(sizes: number[], edges: Array<[number, number, 'property' | 'weak']>): HeapGraph {
  const firstEdge = new Uint32Array(sizes.length + 1);
  const sorted = [...edges].sort((a, b) => a[0] - b[0]);
  for (const [from] of sorted) firstEdge[from + 1]!++;
  for (let i = 0; i < sizes.length; i++) firstEdge[i + 1]! += firstEdge[i]!;
  const edgeTypes = ['property', 'weak'];
  return {
    strings: [''],
    nodeType: new Uint8Array(sizes.length),
    nodeName: new Uint32Array(sizes.length),
    selfSize: Float64Array.from(sizes),
    firstEdge,
    edgeType: Uint8Array.from(sorted.map((e) => edgeTypes.indexOf(e[2]))),
    edgeName: new Uint32Array(sorted.length),
    edgeTo: Uint32Array.from(sorted.map((e) => e[1])),
    nodeTypes: ['object'],
    edgeTypes,
  };
}

describe('retainedSizes', () => {
  it('counts a node shared by two parents under their common dominator, and nothing behind a weak edge', () => {
    // 0 → 1, 0 → 2, 1 → 3, 2 → 3, 3 → 4; 1 ⇢ 5 (weak), 0 → 5.
    const g = graph(
      [0, 10, 20, 30, 40, 50],
      [
        [0, 1, 'property'],
        [0, 2, 'property'],
        [1, 3, 'property'],
        [2, 3, 'property'],
        [3, 4, 'property'],
        [1, 5, 'weak'],
        [0, 5, 'property'],
      ],
    );
    const { retained } = retainedSizes(g);
    assert.deepEqual([...retained], [150, 10, 20, 70, 40, 50]);
  });
});

class FakeReconciler {
  readonly #memory = new Map<string, unknown>();
  constructor(uids: string[]) {
    for (const uid of uids) this.#memory.set(uid, { status: { currentReplicas: 1 }, history: new Map() });
  }
  get size() {
    return this.#memory.size;
  }
}

/** Stands for src/operator/operator.ts's Operator: the fields the breakdown reads. */
class Operator {
  readonly #policies: PolicyStore;
  readonly #reconciler: FakeReconciler;
  constructor(store: PolicyStore, owned: string[]) {
    this.#policies = store;
    this.#reconciler = new FakeReconciler(owned);
  }
  get held() {
    return [this.#policies.size, this.#reconciler.size];
  }
}

describe('heapBreakdown', () => {
  it('finds the policies held in full and as stubs, and the reconciler memory, in a real snapshot', () => {
    const ps = Array.from({ length: 5 }, (_, i) => policy({}, `p${i}`));
    const owned = new Set(ps.slice(0, 2).map((p) => p.metadata.uid!));
    const store = new PolicyStore({
      holdsFull: (uid) => owned.has(uid),
      read: async () => undefined,
      list: async () => undefined,
    });
    for (const p of ps) store.set(p.metadata.uid!, store.admit(structuredClone(p)));
    const op = new Operator(store, [...owned]);
    const dir = mkdtempSync(join(tmpdir(), 'heap-'));
    try {
      const file = writeHeapSnapshot(join(dir, 'x.heapsnapshot'));
      const b = heapBreakdown(parseSnapshot(readFileSync(file, 'utf8')));
      assert.equal(b.policies.full, 2);
      assert.equal(b.policies.stub, 3);
      assert.ok(b.policies.stubBytes > 0 && b.policies.stubBytes < b.policies.fullBytes);
      assert.equal(b.reconcilerMemory.count, 2);
      assert.ok((b.fields['#policies'] ?? 0) >= 2 * b.policies.fullBytes + 3 * b.policies.stubBytes);
      assert.deepEqual(op.held, [5, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
