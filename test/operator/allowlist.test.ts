import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import {
  AllowList,
  allowListFromConfigMap,
  type ConfigMapInformer,
  parseAllowList,
  watchAllowListConfigMap,
} from '../../src/operator/allowlist.ts';

const A = 'http://prometheus.monitoring.svc:9090';
const B = 'https://thanos.example.com/prom';

/** Watches the ConfigMap prom-allow through the fake informer. */
const watch = (
  allowList: AllowList,
  informer: FakeInformer,
  namespace: string,
  extra: { retryMs?: number } = {},
) =>
  watchAllowListConfigMap({
    allowList,
    namespace,
    name: 'prom-allow',
    log: pino({ level: 'silent' }),
    informer,
    ...extra,
  });

describe('allow-list ConfigMap parsing', () => {
  it('splits on newlines and commas, trims, ignores blanks, comments and repeats', () => {
    const p = parseAllowList(
      `${A}\n  ${B} , http://10.0.0.1:9090\n\n# staging:\nhttp://s:9090 # its note\n${A}\r\n`,
    );
    assert.deepEqual(p.entries, [A, B, 'http://10.0.0.1:9090', 'http://s:9090']);
    assert.deepEqual(p.invalid, []);
  });

  it('an entry that does not parse is left out and named, the others still apply', () => {
    const p = parseAllowList(`${A}\nftp://x\nhttp://user:pw@h:9090\nnot a url`);
    assert.deepEqual(p.entries, [A]);
    assert.deepEqual(
      p.invalid.map((i) => i.entry),
      ['ftp://x', 'http://[redacted]@h:9090', 'not a url'],
    );
    assert.ok(p.invalid.every((i) => /invalid Prometheus allow-list entry/.test(i.reason)));
    assert.doesNotMatch(JSON.stringify(p.invalid), /pw/, 'no credential in what is logged');
  });

  it('empty text, a ConfigMap without the key, or none at all: nothing', () => {
    assert.deepEqual(parseAllowList('').entries, []);
    assert.deepEqual(parseAllowList(undefined).entries, []);
    assert.deepEqual(allowListFromConfigMap({ data: { other: A } }).entries, []);
    assert.deepEqual(allowListFromConfigMap({}).entries, []);
    assert.deepEqual(allowListFromConfigMap(undefined).entries, []);
    assert.deepEqual(allowListFromConfigMap({ data: { allowed: B } }).entries, [B]);
  });
});

describe('AllowList', () => {
  it('the flag entries always apply; the ConfigMap part is replaced as a whole', () => {
    const l = new AllowList([A]);
    assert.equal(l.check(A).ok, true);
    assert.equal(l.check(`${B}/api`).ok, false);
    l.setConfigMapEntries([B]);
    assert.equal(l.check(`${B}/api`).ok, true, 'under the entry path');
    assert.equal(l.check(A).ok, true);
    l.setConfigMapEntries([]);
    assert.equal(l.check(B).ok, false, 'removed from the ConfigMap: refused again');
    assert.equal(l.check(A).ok, true);
  });

  it('an invalid flag entry fails at start', () => {
    assert.throws(() => new AllowList(['ftp://x']), /invalid Prometheus allow-list entry/);
  });
});

/** An informer the test drives by hand. */
class FakeInformer implements ConfigMapInformer {
  handlers: Record<string, Array<(x: never) => void>> = {};
  starts = 0;
  stopped = false;
  onStart: (() => void) | undefined;
  on(verb: string, cb: (x: never) => void): void {
    const list = this.handlers[verb] ?? [];
    list.push(cb);
    this.handlers[verb] = list;
  }
  emit(verb: string, x: unknown): void {
    for (const cb of this.handlers[verb] ?? []) cb(x as never);
  }
  async start(): Promise<void> {
    this.starts++;
    this.onStart?.();
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

const cm = (name: string, allowed?: string): KubernetesObject & { data?: Record<string, string> } => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'tidemark-system' },
  ...(allowed === undefined ? {} : { data: { allowed } }),
});

describe('watchAllowListConfigMap', () => {
  it('applies the ConfigMap on the first list, on every edit and on deletion, without a restart', async () => {
    const l = new AllowList([A]);
    const inf = new FakeInformer();
    inf.onStart = () => inf.emit('add', cm('prom-allow', B));
    const w = watch(l, inf, 'tidemark-system');
    await w.started;
    assert.equal(l.check(B).ok, true, 'in force once started resolves');
    inf.emit('update', cm('prom-allow', 'http://other:9090'));
    assert.equal(l.check(B).ok, false);
    assert.equal(l.check('http://other:9090').ok, true);
    inf.emit('update', cm('unrelated', B));
    assert.equal(l.check(B).ok, false, 'another ConfigMap is ignored');
    inf.emit('update', cm('prom-allow', `${B}\nbogus entry`));
    assert.equal(l.check(B).ok, true, 'a bad line does not void the good ones');
    inf.emit('delete', cm('prom-allow', B));
    assert.equal(l.check(B).ok, false, 'deleted: only the flag entries remain');
    assert.equal(l.check(A).ok, true);
    await w.stop();
    assert.equal(inf.stopped, true);
  });

  it('restarts the watch after an error, with backoff, and not after stop()', async () => {
    const l = new AllowList([]);
    const inf = new FakeInformer();
    const w = watch(l, inf, 'ns', { retryMs: 5 });
    await w.started;
    assert.equal(inf.starts, 1);
    inf.emit('error', new Error('forbidden'));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(inf.starts, 2);
    inf.emit('add', cm('prom-allow', A));
    assert.equal(l.check(A).ok, true);
    inf.emit('error', new Error('watch expired'));
    await w.stop();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(inf.starts, 2, 'stopped: no restart');
  });
});
