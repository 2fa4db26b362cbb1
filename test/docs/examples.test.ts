import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLES = [
  'examples/request-rate.yaml',
  'examples/queue-depth.yaml',
  'examples/latency-slo.yaml',
];

test('`tidemark validate` accepts every documented example', () => {
  const r = spawnSync(process.execPath, ['bin/tidemark.js', 'validate', ...EXAMPLES], {
    cwd: repo,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  for (const e of EXAMPLES) assert.match(r.stdout, new RegExp(`${e}: valid`));
});

test('the examples show what their names promise', () => {
  const text = (f: string) => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
  assert.match(text('examples/request-rate.yaml'), /rate\(http_requests_total/);
  assert.match(text('examples/queue-depth.yaml'), /minReplicas: 0/);
  assert.match(text('examples/queue-depth.yaml'), /activationThreshold/);
  assert.match(text('examples/latency-slo.yaml'), /histogram_quantile\(0\.99/);
  assert.match(text('examples/latency-slo.yaml'), /objectiveSeconds/);
});

test('the README links the generated reference and every example', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /docs\/scalingpolicy-reference\.md/);
  for (const e of EXAMPLES) assert.ok(readme.includes(e), `README does not mention ${e}`);
});
