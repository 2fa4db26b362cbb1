// Each example applied server-side (`kubectl apply --dry-run=server`): the
// sandbox's API server checks it against the installed CRD's schema and CEL
// rules, exactly as in a cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kubectl, waitEstablished } from '../support/sandbox.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = ['examples/request-rate.yaml', 'examples/queue-depth.yaml', 'examples/latency-slo.yaml'];

before(async () => {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'crds/scalingpolicy.yaml')]);
  await waitEstablished();
  // The examples live in namespace shop; a dry run does not create it.
  const { stdout } = await kubectl(['create', 'namespace', 'shop', '--dry-run=client', '-o', 'yaml']);
  await kubectl(['apply', '-f', '-'], { input: stdout });
});

for (const example of EXAMPLES) {
  test(`kubectl apply --dry-run=server -f ${example}`, async () => {
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', join(repo, example)]);
    assert.match(
      stdout,
      /scalingpolicy\.tidemark\.dev\/\S+ (created|configured|unchanged) \(server dry run\)/,
    );
  });
}

test('the API server rejects a broken example with the CEL message (the check can fail)', async () => {
  const text = readFileSync(join(repo, EXAMPLES[0]!), 'utf8');
  const broken = text.replace(/minReplicas: 2\b/, 'minReplicas: 50');
  assert.notEqual(broken, text);
  await assert.rejects(
    kubectl(['apply', '--dry-run=server', '-f', '-'], { input: broken }),
    /minReplicas must be less than or equal to maxReplicas/,
  );
});
