import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GENERATED_TYPES_URL, generateTypes } from '../../src/crd/gen-types.ts';

test('src/crd/types.generated.ts is up to date with crds/scalingpolicy.yaml (run `make gen`)', async () => {
  assert.equal(readFileSync(GENERATED_TYPES_URL, 'utf8'), await generateTypes());
});
