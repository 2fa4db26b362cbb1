// .ci/run's own check: after `make test` the working tree must be as the clone left it. The
// real `make test` takes a quarter of an hour and a sandbox, so a stand-in `make` (first on
// PATH) plays a test run that leaves the tree clean, dirties it, or fails; .ci/run and git
// are the real ones, in a throwaway repository.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const CI_RUN = new URL('../../.ci/run', import.meta.url).pathname;
const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A git repository holding .ci/run and a tracked file, with `make` doing `script`. */
function repoWithMake(script: string): { dir: string; run: () => ReturnType<typeof spawnSync> } {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-ci-'));
  made.push(dir);
  const bin = join(dir, '.fake-bin');
  mkdirSync(join(dir, '.ci'));
  mkdirSync(bin);
  copyFileSync(CI_RUN, join(dir, '.ci/run'));
  writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion": 3}\n');
  writeFileSync(join(dir, '.gitignore'), '.fake-bin/\n');
  writeFileSync(join(bin, 'make'), `#!/usr/bin/env bash\n${script}\n`);
  chmodSync(join(bin, 'make'), 0o755);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q');
  git('add', '.');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qm', 'clone');
  return {
    dir,
    run: () =>
      spawnSync(join(dir, '.ci/run'), [], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      }),
  };
}

test('.ci/run passes when make test leaves the tree clean', () => {
  const r = repoWithMake('echo tests ran').run();
  assert.equal(r.status, 0, String(r.stderr));
  assert.match(String(r.stdout), /tests ran/);
});

test('.ci/run fails and names the file when make test rewrites a tracked one', () => {
  const r = repoWithMake('echo \'{"lockfileVersion": 3, "packages": {}}\' > package-lock.json').run();
  assert.equal(r.status, 1);
  assert.match(String(r.stderr), /make test changed the working tree/);
  assert.match(String(r.stderr), /M package-lock\.json/);
  assert.match(String(r.stderr), /package-lock\.json \| 2/);
});

test('.ci/run fails when make test leaves an untracked file', () => {
  const r = repoWithMake('mkdir -p bench/results && echo x > bench/results/new.md').run();
  assert.equal(r.status, 1);
  assert.match(String(r.stderr), /\?\? bench\/results\/new\.md/);
});

test('a failing make test keeps its own exit status, and the tree is still checked', () => {
  const clean = repoWithMake('exit 2').run();
  assert.equal(clean.status, 2);
  assert.doesNotMatch(String(clean.stderr), /changed the working tree/);
  const dirty = repoWithMake('echo y > stray.txt; exit 2').run();
  assert.equal(dirty.status, 2);
  assert.match(String(dirty.stderr), /\?\? stray\.txt/);
});
