// Replays the Dockerfile's steps outside Docker (no engine runs here): a
// temporary folder with what the final image holds, and nothing else.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
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

/** sandbox/image.sh: builds the Dockerfile with podman (see that script). */
export const IMAGE_SCRIPT = join(REPO, 'sandbox/image.sh');

/** The image `make image` builds: tidemark:<package.json version>. */
export function imageName(): string {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  return `tidemark:${pkg.version}`;
}

/**
 * `make image`'s build (sandbox/image.sh): the shipped Dockerfile, unchanged, with podman on
 * the cached node:24-slim stand-in; podman's layer cache makes a rebuild of unchanged sources
 * take seconds. Returns what the script printed (its facts: size, layers, user, history).
 * Throws with the script's output when the build or its non-root/read-only check fails.
 */
export function buildImage(): string {
  const r = spawnSync(IMAGE_SCRIPT, ['build'], { cwd: REPO, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(`sandbox/image.sh failed (${r.status}):\n${r.stdout}\n${r.stderr.slice(-6000)}`);
  return r.stdout;
}

/** podman with the project's settings (storage in ~/.cache/tidemark/podman, runc, cgroupfs). */
export function podman(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(IMAGE_SCRIPT, ['podman', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
