import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOAD, phaseAt, plainLine, plan, type Snapshot, screen, sparkline } from '../../scripts/demo/plan.ts';

test('the load profile ramps up, spikes, ramps down and ends quiet, in order and within the run', () => {
  for (const total of [60, 90, 210, 600]) {
    const phases = plan(total);
    assert.deepEqual(
      phases.map((p) => p.name),
      ['quiet', 'ramp up', 'spike', 'ramp down', 'quiet'],
    );
    for (let i = 1; i < phases.length; i++) {
      assert.ok(
        phases[i]!.atSeconds > phases[i - 1]!.atSeconds,
        `${total}s: phase ${i} starts after ${i - 1}`,
      );
    }
    // The quiet end must outlast the 30 s rate window plus the 30 s scale-down window on a full run.
    if (total >= 210) assert.ok(total - phases.at(-1)!.atSeconds >= 60, `${total}s: quiet end long enough`);
    assert.match(phases[2]!.load, new RegExp(`rps=${LOAD.spike}`));
    // A ramp ends where the next phase starts: its duration is the phase's length.
    const rampUpSeconds = Number(/seconds=(\d+)/.exec(phases[1]!.load)![1]);
    assert.equal(phases[1]!.atSeconds + rampUpSeconds, phases[2]!.atSeconds);
  }
});

test('phaseAt picks the newest phase that has started', () => {
  const phases = plan(100);
  assert.equal(phaseAt(phases, 0).name, 'quiet');
  assert.equal(phaseAt(phases, phases[2]!.atSeconds).name, 'spike');
  assert.equal(phaseAt(phases, phases[2]!.atSeconds - 0.1).name, 'ramp up');
  assert.equal(phaseAt(phases, 1e6), phases.at(-1));
});

const snap: Snapshot = {
  elapsedSeconds: 75,
  totalSeconds: 210,
  phase: 'spike',
  offeredRps: 520,
  metric: { name: 'rps', value: '431.2', target: '50', proposedReplicas: 9 },
  currentReplicas: 7,
  desiredReplicas: 9,
  readyReplicas: 5,
  lastReason: 'rps 431.2 vs 50/replica proposes 9; scaling 7→9',
  lastEvent: { reason: 'Scaled', message: 'scaled Deployment demo/web 7→9' },
  history: [1, 2, 4, 7],
};

test('a plain line carries time, phase, load, metric vs target and the replicas', () => {
  assert.equal(
    plainLine(snap),
    '[1:15] spike     offered 520.0 rps | rps 431.2 vs 50/replica → proposes 9 | replicas 7 desired 9 ready 5',
  );
  assert.match(
    plainLine({ elapsedSeconds: 0, totalSeconds: 60, phase: 'quiet', history: [] }),
    /offered +– rps \| not evaluated yet \| replicas – desired – ready –/,
  );
  assert.match(
    plainLine({ ...snap, metric: { name: 'rps', error: 'Empty: no series' } }),
    /rps: error: Empty: no series/,
  );
});

test('the screen shows every field, and no line is wider than the terminal', () => {
  const lines = screen(snap, { maxReplicas: 12, columns: 60, target: 'Deployment demo/web' });
  const text = lines.join('\n');
  for (const want of [
    '1:15 / 3:30',
    'phase: spike',
    '520.0 requests/s',
    'rps 431.2 vs 50/replica',
    'current  7',
    'desired  9',
    'ready    5',
    'Scaled:',
    'Ctrl-C',
  ]) {
    assert.ok(text.includes(want), `screen shows "${want}":\n${text}`);
  }
  for (const l of lines) assert.ok(l.length <= 59, `fits 60 columns: "${l}"`);
});

test('the sparkline scales to the maximum and keeps the newest values', () => {
  assert.equal(sparkline([0, 6, 12], 12, 10), '▁▅█');
  assert.equal(sparkline([1, 2, 3, 12], 12, 2), '▃█');
});
