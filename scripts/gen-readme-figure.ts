// The README's first screen: runs the two quick-start commands it shows (`tidemark trace
// synth`, then `tidemark simulate --plot`), keeps the plot as docs/img/readme-week.svg and
// writes the commands and the run's numbers between the README's readme-figure markers, so
// the picture, the numbers and the commands always come from one run. Part of `make gen`;
// it rewrites a file only when its content changed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report, StrategyResult } from '../src/simulate/simulate.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
export const FIGURE = 'docs/img/readme-week.svg';
const BEGIN = '<!-- readme-figure:begin (scripts/gen-readme-figure.ts writes this part; run `make gen`) -->';
const END = '<!-- readme-figure:end -->';

// A week of the seasonal shape: daily peaks, a quieter weekend, bursts. The policy is the
// benchmark's, Level 5 on; the simulator's defaults (20 requests/minute per replica, 60 s
// start-up) are the benchmark's too.
const TRACE = 'week.csv';
const ALT = 'Tidemark, the HPA and an oracle replaying a synthetic week: load, ready capacity and replicas';
const SYNTH = ['trace', 'synth', '--shape', 'seasonal', '--days', '7', '--seed', '7', '--out', TRACE];
const POLICY = 'examples/nasa-autopilot.yaml';
const SIMULATE = ['simulate', '--trace', TRACE, '--policy', POLICY, '--plot', 'week.svg'];

/** Runs the CLI as a user would, in `cwd`; returns stdout. */
function tidemark(args: string[], cwd: string): string {
  return execFileSync(process.execPath, [join(REPO, 'bin/tidemark.js'), ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Runs the quick start in a scratch directory; returns the report and the SVG. */
export function quickStartRun(): { report: Report; svg: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-readme-figure-'));
  try {
    mkdirSync(join(dir, 'examples'));
    writeFileSync(join(dir, POLICY), readFileSync(join(REPO, POLICY)));
    tidemark(SYNTH, dir);
    const report = JSON.parse(tidemark([...SIMULATE, '--format', 'json'], dir)) as Report;
    // The plot as `simulate --plot` drew it, plus a <title>: a screen reader's text for it.
    const svg = readFileSync(join(dir, 'week.svg'), 'utf8').replace(
      /^(<svg[^>]*>)/,
      `$1\n<title>${ALT}</title>`,
    );
    return { report, svg };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const thousands = (n: number) => Math.round(n).toLocaleString('en-US');

function versusHpa(t: number, h: number): string {
  if (h === 0) return t === 0 ? 'same' : `${thousands(t)} more`;
  const pct = ((t - h) / h) * 100;
  return `${pct >= 0 ? '+' : '−'}${Math.abs(pct).toFixed(1)} %`;
}

/** The Markdown between the markers: picture, numbers, the two commands. */
export function figureBlock(report: Report): string {
  const get = (s: string): StrategyResult => {
    const r = report.results.find((x) => x.strategy === s);
    if (!r) throw new Error(`the report has no ${s} result`);
    return r;
  };
  const [t, h, o] = [get('tidemark'), get('hpa-default'), get('oracle')];
  const row = (label: string, k: 'replicaMinutes' | 'underProvisionedMinutes' | 'directionReversals') =>
    `| ${label} | **${thousands(t[k])}** (${versusHpa(t[k], h[k])}) | ${thousands(h[k])} | ${thousands(o[k])} |`;
  const cmd = (args: string[]) => `npx tidemark ${args.join(' ')}`;
  return [
    BEGIN,
    `![${ALT}](${FIGURE})`,
    '',
    `A week of synthetic web traffic (${thousands(report.trace.minutes)} minutes: daily peaks, a quieter weekend, bursts), ${report.model.capacityPerReplica} requests/minute per replica, pods ready ${report.model.startupSeconds} s after they are asked for. Tidemark runs [the benchmark's Level 5 policy](${POLICY}); the HPA has the same target and bounds; the oracle knows the future (the least any autoscaler could spend). KEDA's line is the HPA's: with at least one replica it scales as the HPA does.`,
    '',
    '| one simulated week | Tidemark | HPA | oracle |',
    '|---|---:|---:|---:|',
    row('replica-minutes (what you pay)', 'replicaMinutes'),
    row('under-provisioned minutes (what your users feel)', 'underProvisionedMinutes'),
    row('direction reversals (flapping)', 'directionReversals'),
    '',
    'The same run on your machine, with nothing but the clone:',
    '',
    '```sh',
    'npm ci                 # once: the project’s own Node.js 24 and its dependencies',
    cmd(SYNTH),
    cmd(SIMULATE),
    '```',
    END,
  ].join('\n');
}

/** README with the block between the markers replaced; throws when the markers are missing. */
export function replaceBlock(readme: string, block: string): string {
  const from = readme.indexOf('<!-- readme-figure:begin');
  const to = readme.indexOf(END);
  if (from < 0 || to < from)
    throw new Error(`README.md lacks the markers <!-- readme-figure:begin … --> … ${END}`);
  return readme.slice(0, from) + block + readme.slice(to + END.length);
}

function writeIfChanged(path: string, content: string): void {
  let old: string | undefined;
  try {
    old = readFileSync(path, 'utf8');
  } catch {
    old = undefined;
  }
  if (old === content) return;
  writeFileSync(path, content);
  console.log(`wrote ${path}`);
}

if (import.meta.main) {
  const { report, svg } = quickStartRun();
  mkdirSync(join(REPO, 'docs/img'), { recursive: true });
  writeIfChanged(join(REPO, FIGURE), svg);
  const readme = join(REPO, 'README.md');
  writeIfChanged(readme, replaceBlock(readFileSync(readme, 'utf8'), figureBlock(report)));
}
