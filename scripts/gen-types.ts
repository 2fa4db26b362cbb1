// Generates src/crd/types.generated.ts from crds/scalingpolicy.yaml, so the
// TypeScript types cannot drift from the CRD (test/crd/types.test.ts checks it).
import { writeFileSync } from 'node:fs';
import { GENERATED_TYPES_URL, generateTypes } from '../src/crd/gen-types.ts';

writeFileSync(GENERATED_TYPES_URL, await generateTypes());
console.log(`wrote ${GENERATED_TYPES_URL.pathname}`);
