// Replays the Dockerfile's steps outside Docker (no engine runs here): a
// temporary folder with what the final image holds, and nothing else.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './manifests.ts';

/** The project's own Node.js 24 (the system one may be older). */
export const NODE = join(REPO, 'node_modules/.bin/node');

/** npm's CLI script, to run with the project's Node.js rather than the system one. */
function npmCli(): string {
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  return realpathSync(npm);
}

/**
 * Builds the image's /app in a fresh temporary folder and returns its path:
 * - stage "build": a real `tsc -p tsconfig.build.json` of src/ to dist/;
 * - stage "deps": `npm ci --omit=dev --ignore-scripts` from package.json and the lock;
 * - final stage: node_modules, dist/, package.json, bin/, crds/ (no src/, no dev dependencies).
 */
export function buildImageFolder(): { app: string; notes: string[] } {
  const notes: string[] = [];
  const app = mkdtempSync(join(tmpdir(), 'tidemark-image-'));
  const run = (cmd: string, args: string[], cwd: string) =>
    execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, encoding: 'utf8' });
  // stage build (its output only): its `npm ci` is the one `make deps` ran for this checkout,
  // so the checkout's own TypeScript compiles.
  run(
    NODE,
    [
      join(REPO, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(app, 'dist'),
    ],
    REPO,
  );
  // stage deps: --prefer-offline uses npm's cache when `make deps` filled it.
  cpSync(join(REPO, 'package.json'), join(app, 'package.json'));
  cpSync(join(REPO, 'package-lock.json'), join(app, 'package-lock.json'));
  const flags = ['--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'];
  // As the Dockerfile does: `npm ci` installs exactly the lock, and fails if it disagrees with
  // package.json.
  run(NODE, [npmCli(), 'ci', ...flags], app);
  // final stage
  cpSync(join(REPO, 'bin'), join(app, 'bin'), { recursive: true });
  cpSync(join(REPO, 'crds'), join(app, 'crds'), { recursive: true });
  return { app, notes };
}
