import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImageFolder, NODE } from './support/image.ts';
import { REPO } from './support/manifests.ts';

const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const stages = instructions.reduce<string[][]>((acc, l) => {
  if (/^FROM /i.test(l)) acc.push([]);
  acc.at(-1)?.push(l);
  return acc;
}, []);

test('Dockerfile: multi-stage on Node.js 24, production dependencies and compiled output only, non-root', () => {
  assert.ok(stages.length >= 2, 'not multi-stage');
  for (const s of stages) assert.match(s[0]!, /^FROM node:24(-[a-z]+)?(@sha256:[0-9a-f]+)?( AS \w+)?$/i);
  // `npm ci` installs exactly the lock and fails when package.json and the lock disagree;
  // `npm install` may rewrite the lock, so an image could hold versions nobody tested.
  assert.ok(
    instructions.some((l) => /^RUN npm ci\b(?!.*--omit=dev)/.test(l)),
    'no full `npm ci` for the build',
  );
  assert.deepEqual(
    instructions.filter((l) => /\bnpm (install|i|add)\b/.test(l)),
    [],
    'dependencies come from the lock through `npm ci`, never `npm install`',
  );
  assert.ok(
    instructions.some((l) => /^RUN npm run build\b/.test(l)),
    'no `npm run build`',
  );
  const final = stages.at(-1)!;
  const copies = final.filter((l) => /^COPY /.test(l)).join('\n');
  assert.doesNotMatch(copies, /\bsrc\b/, 'the final image must not carry src/');
  for (const part of ['dist', 'bin', 'crds', 'package.json', 'node_modules'])
    assert.match(copies, new RegExp(part));
  const depsStage = stages.find((s) => s.some((l) => /^RUN npm ci .*--omit=dev/.test(l)));
  assert.ok(depsStage, 'no stage runs `npm ci --omit=dev`');
  const user = final.find((l) => /^USER /.test(l));
  assert.match(user ?? '', /^USER [1-9][0-9]*(:[0-9]+)?$/, 'final USER must be numeric and not root');
  assert.match(final.at(-1)!, /^ENTRYPOINT \[.*"\/app\/bin\/tidemark\.js", "run"\]$/);
});

test('.dockerignore keeps the build context to what the Dockerfile copies', () => {
  const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8');
  assert.match(ignore, /^\*$/m, 'should ignore everything by default');
  assert.doesNotMatch(ignore, /^!node_modules/m);
});

// The Dockerfile's steps replayed in a temporary folder: proves the compiled
// output runs with production dependencies only and without src/.
describe('the Dockerfile steps replayed in a temporary folder', () => {
  let app = '';
  before(() => {
    const built = buildImageFolder();
    app = built.app;
    for (const n of built.notes) process.stdout.write(`# ${n}\n`);
  });
  after(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  function tidemark(...args: string[]) {
    return spawnSync(NODE, [join(app, 'bin/tidemark.js'), ...args], {
      cwd: app,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, KUBECONFIG: '/nonexistent' },
    });
  }

  test('the image folder holds no source and no development dependency', () => {
    assert.ok(existsSync(join(app, 'dist/cli/main.js')), 'no dist/cli/main.js');
    assert.ok(!existsSync(join(app, 'src')), 'src/ must not be there');
    // The sandbox runs its simulated app from source; the operator's image has no use for it.
    assert.ok(!existsSync(join(app, 'dist/workload')), 'dist/workload/ (the sandbox app) must not be there');
    for (const dev of ['typescript', '@biomejs/biome', 'fast-check', 'node', 'json-schema-to-typescript']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `dev dependency ${dev} installed`);
    }
    assert.ok(existsSync(join(app, 'node_modules/@kubernetes/client-node')));
  });

  test('`tidemark run --help` works from the compiled output with production dependencies only', () => {
    const r = tidemark('run', '--help');
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    for (const flag of [
      '--metrics-port',
      '--namespaces',
      '--allowed-prometheus',
      '--leader-election-namespace',
      '--lease-name',
      '--identity',
    ]) {
      assert.match(r.stdout, new RegExp(flag), `run --help does not mention ${flag}`);
    }
  });

  test('`tidemark validate` runs from the compiled output (schema and CEL from crds/)', () => {
    const r = tidemark('validate', join(REPO, 'examples/request-rate.yaml'));
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    assert.match(r.stdout, /valid/);
  });
});
