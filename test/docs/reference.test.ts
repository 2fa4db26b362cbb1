import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generateReference, REFERENCE_URL } from '../../scripts/gen-docs.ts';
import { rootSchema, type SchemaNode } from '../../src/crd/schema.ts';

test('docs/scalingpolicy-reference.md is up to date with the CRD (run `node scripts/gen-docs.ts`)', () => {
  assert.equal(readFileSync(REFERENCE_URL, 'utf8'), generateReference());
});

function fields(
  path: string,
  node: SchemaNode,
  out: Array<[string, SchemaNode]> = [],
): Array<[string, SchemaNode]> {
  if (node.type === 'array' && node.items) return fields(`${path}[]`, node.items, out);
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    out.push([`${path}.${name}`, child]);
    fields(`${path}.${name}`, child, out);
  }
  return out;
}

test('the reference documents every field of spec and status, with its default, bounds, enum and CEL rules', () => {
  const doc = generateReference();
  const root = rootSchema();
  const all = [...fields('spec', root.properties!.spec!), ...fields('status', root.properties!.status!)];
  assert.ok(all.length > 80, `only ${all.length} fields found`);
  for (const [path, node] of all) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${path}\``) || l.startsWith(`| [\`${path}\`]`));
    assert.ok(row, `no row for ${path}`);
    if (node.default !== undefined)
      assert.ok(row.includes(`\`${JSON.stringify(node.default)}\``), `${path}: default`);
    if (typeof node.minimum === 'number') assert.ok(row.includes(String(node.minimum)), `${path}: minimum`);
    if (typeof node.maximum === 'number') assert.ok(row.includes(String(node.maximum)), `${path}: maximum`);
    for (const e of (node.enum as string[] | undefined) ?? [])
      assert.ok(row.includes(`\`${e}\``), `${path}: enum ${e}`);
    if (node.description)
      assert.ok(row.includes(node.description.replace(/\|/g, '\\|')), `${path}: description`);
  }
  const rules = JSON.stringify(root).match(/"rule":"/g)?.length ?? 0;
  const documented = doc.match(/CEL: |^- `/gm)?.length ?? 0;
  assert.ok(rules >= 5 && documented >= rules, `${rules} CEL rules in the CRD, ${documented} documented`);
  for (const rule of [
    'self.minReplicas <= self.maxReplicas',
    'double(self.minTarget) <= double(self.maxTarget)',
  ]) {
    assert.ok(doc.includes(rule), `CEL rule ${rule} not documented`);
  }
});
