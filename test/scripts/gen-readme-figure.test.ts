import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FIGURE, figureBlock, replaceBlock } from '../../scripts/gen-readme-figure.ts';
import type { Report, StrategyResult } from '../../src/simulate/simulate.ts';

const result = (strategy: string, replicaMinutes: number, under: number, reversals: number): StrategyResult =>
  ({
    strategy,
    replicaMinutes,
    underProvisionedMinutes: under,
    unservedRequests: 0,
    scaleEvents: 0,
    directionReversals: reversals,
    peakReplicas: 0,
  }) as StrategyResult;

const report = {
  trace: { file: 'week.csv', minutes: 10080 },
  model: { capacityPerReplica: 20, startupSeconds: 60, tickSeconds: 15 },
  results: [
    result('tidemark', 1050, 5, 90),
    result('hpa-default', 1000, 20, 100),
    result('keda-default', 1000, 20, 100),
    result('oracle', 700, 0, 300),
  ],
  extra: {},
} as unknown as Report;

test('the block shows the picture, the three numbers against the HPA, and the commands', () => {
  const block = figureBlock(report);
  assert.ok(block.includes(`](${FIGURE})`));
  assert.match(block, /\| replica-minutes \(what you pay\) \| \*\*1,050\*\* \(\+5\.0 %\) \| 1,000 \| 700 \|/);
  assert.match(block, /\| under-provisioned minutes .* \| \*\*5\*\* \(−75\.0 %\) \| 20 \| 0 \|/);
  assert.match(block, /\| direction reversals .* \| \*\*90\*\* \(−10\.0 %\) \| 100 \| 300 \|/);
  assert.match(block, /^npx tidemark trace synth .* --out week\.csv$/m);
  assert.match(block, /^npx tidemark simulate --trace week\.csv .* --plot week\.svg$/m);
});

test('only the part between the markers is replaced; no markers is an error', () => {
  const readme = 'top\n<!-- readme-figure:begin (x) -->\nold\n<!-- readme-figure:end -->\nbottom\n';
  const out = replaceBlock(readme, figureBlock(report));
  assert.ok(out.startsWith('top\n<!-- readme-figure:begin'));
  assert.ok(out.endsWith('<!-- readme-figure:end -->\nbottom\n'));
  assert.ok(!out.includes('old'));
  assert.throws(() => replaceBlock('no markers', 'x'), /README\.md lacks the markers/);
});

test("the README carries the generated block (make gen fills it) and its picture's path", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /<!-- readme-figure:begin[^\n]*-->\n!\[[^\]]+\]\(docs\/img\/readme-week\.svg\)/);
  assert.match(readme, /<!-- readme-figure:end -->/);
});
