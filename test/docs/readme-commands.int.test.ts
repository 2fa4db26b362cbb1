// The documented `tidemark` commands whose block is marked `<!-- needs: sandbox -->`, run as
// written against the sandbox (its env.sh is sourced by sandbox/with-sandbox.sh, so
// $PROMETHEUS_URL and KUBECONFIG are set as the README's `source .sandbox/env.sh` sets them).
// The other commands run in readme-commands.test.ts; a sandbox block makes its own files.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kubectl, waitEstablished } from '../support/sandbox.ts';
import { cloneLikeDir, documentedCommands, REPO, runDocCommand } from './support/commands.ts';

const commands = documentedCommands();

before(async () => {
  // The README's blocks apply the CRD just before (`kubectl apply -f crds/`).
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  await waitEstablished();
});

test('the README shows `npx tidemark run`, marked as needing the sandbox', () => {
  const sandbox = commands.filter((c) => c.sandbox);
  assert.ok(
    sandbox.some((c) => /^npx tidemark run /.test(c.command)),
    'the README no longer shows `npx tidemark run` with <!-- needs: sandbox; until "…" -->',
  );
});

describe('each documented command that needs the sandbox, as written', () => {
  const dir = cloneLikeDir();
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of commands.filter((x) => x.sandbox)) {
    test(`${c.where}: ${c.command}`, async () => {
      const r = await runDocCommand(c, dir, 300_000);
      assert.ok(!r.timedOut, `still running after 300 s (a server must stop on SIGTERM):\n${r.output}`);
      if (c.until) assert.ok(r.seen, `"${c.until}" never appeared:\n${r.output}`);
      else assert.equal(r.code, 0, r.output);
      assert.doesNotMatch(r.output, /\n\s+at \S+ \(/, 'no stack trace');
    });
  }
});
