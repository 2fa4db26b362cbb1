// Every `tidemark` command line in the README's (and docs/') fenced code blocks, run as
// written from a directory that stands for a fresh clone with nothing beside it. Commands
// whose block is marked `<!-- needs: sandbox -->` run in readme-commands.int.test.ts.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { cloneLikeDir, documentedCommands, extractCommands, runDocCommand } from './support/commands.ts';

const commands = documentedCommands();

test('the extractor finds commands, joins continuations, reads markers, skips other blocks', () => {
  const md = [
    'Text with `tidemark inline` is not a command.',
    '```sh',
    '$ npx tidemark simulate --trace t.csv \\',
    '    --policy p.yaml   # comment',
    'make demo',
    '```',
    '',
    '<!-- needs: sandbox; until "ready now" -->',
    '',
    '```bash',
    '# set-up first',
    'kubectl apply -f crds/',
    'tidemark run --allowed-prometheus "$PROMETHEUS_URL"',
    '```',
    '```yaml',
    'tidemark: not a command',
    '```',
    '```',
    'tidemark validate x.yaml',
    '```',
  ].join('\n');
  assert.deepEqual(extractCommands(md, 'X.md'), [
    {
      command: 'npx tidemark simulate --trace t.csv --policy p.yaml   # comment',
      where: 'X.md:3',
      sandbox: false,
      setup: [],
    },
    {
      command: 'tidemark run --allowed-prometheus "$PROMETHEUS_URL"',
      where: 'X.md:13',
      sandbox: true,
      until: 'ready now',
      setup: ['kubectl apply -f crds/'],
    },
    { command: 'tidemark validate x.yaml', where: 'X.md:19', sandbox: false, setup: [] },
  ]);
  assert.throws(
    () => extractCommands('<!-- needs: gpu -->\n```sh\ntidemark x\n```', 'Y.md'),
    /Y.md:1: unknown need "gpu"/,
  );
});

test('the README shows the quick start, and no command needs anything beside the clone', () => {
  for (const expected of [
    /^npx tidemark trace synth /,
    /^npx tidemark simulate /,
    /^npx tidemark validate /,
  ]) {
    assert.ok(
      commands.some((c) => c.where.startsWith('README.md') && expected.test(c.command)),
      `no README command matches ${expected}`,
    );
  }
  const outside = commands.filter((c) => /\.\.\/shared|\/work\/shared/.test(c.command));
  assert.deepEqual(
    outside.map((c) => `${c.where}: ${c.command}`),
    [],
    'a command names ../shared/, which a fresh clone does not have: use a `tidemark trace synth` trace',
  );
});

describe('each documented command that needs no cluster, as written, from a fresh-clone-like directory', () => {
  const dir = cloneLikeDir();
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of commands.filter((x) => !x.sandbox)) {
    test(`${c.where}: ${c.command}`, async () => {
      const r = await runDocCommand(c, dir, 300_000);
      assert.ok(!r.timedOut, `still running after 300 s:\n${r.output}`);
      if (c.until) assert.ok(r.seen, `"${c.until}" never appeared:\n${r.output}`);
      else assert.equal(r.code, 0, r.output);
      assert.doesNotMatch(r.output, /\n\s+at \S+ \(/, 'no stack trace');
    });
  }
});
