import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HpaLike, otherOwner, type PolicyClaim, targetKey } from '../../src/operator/ownership.ts';

const web = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
const claim = (name: string, created: string, target = web, namespace = 'shop'): PolicyClaim => ({
  namespace,
  name,
  uid: `uid-${name}`,
  creationTimestamp: created,
  target,
});
const hpa = (name: string, target = web, labels?: Record<string, string>): HpaLike => ({
  metadata: { namespace: 'shop', name, ...(labels ? { labels } : {}) },
  spec: { scaleTargetRef: target },
});

describe('one owner per target', () => {
  const a = claim('zeta', '2026-01-01T00:00:00Z');
  const b = claim('alpha', '2026-01-02T00:00:00Z');

  it('the oldest policy owns the target; the younger one is told who does', () => {
    assert.equal(otherOwner(a, [a, b], []), undefined);
    assert.equal(otherOwner(b, [a, b], []), 'ScalingPolicy shop/zeta');
  });

  it('same creation second: the name decides', () => {
    const c = claim('beta', '2026-01-01T00:00:00Z');
    assert.equal(otherOwner(c, [a, c], []), undefined);
    assert.equal(otherOwner(a, [a, c], []), 'ScalingPolicy shop/beta');
  });

  it('a policy alone on its target, or on another target, namespace or group, owns it', () => {
    assert.equal(otherOwner(b, [b], []), undefined);
    assert.equal(
      otherOwner(b, [b, claim('x', '2020-01-01T00:00:00Z', { ...web, name: 'api' })], []),
      undefined,
    );
    assert.equal(otherOwner(b, [b, claim('x', '2020-01-01T00:00:00Z', web, 'other')], []), undefined);
    const rollout = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Deployment', name: 'web' };
    assert.equal(otherOwner(b, [b, claim('x', '2020-01-01T00:00:00Z', rollout)], []), undefined);
  });

  it('the API version does not matter, the group does', () => {
    assert.equal(targetKey('shop', web), targetKey('shop', { ...web, apiVersion: 'apps/v1beta2' }));
    assert.notEqual(targetKey('shop', web), targetKey('shop', { ...web, apiVersion: 'v1' }));
  });

  it('an HPA on the target: no policy acts, not even the oldest', () => {
    assert.equal(otherOwner(a, [a, b], [hpa('web')]), 'HorizontalPodAutoscaler shop/web');
    assert.equal(otherOwner(a, [a], [hpa('other', { ...web, name: 'api' })]), undefined);
  });

  it('names the KEDA ScaledObject behind an HPA KEDA created', () => {
    const keda = hpa('keda-hpa-web', web, { 'scaledobject.keda.sh/name': 'web' });
    assert.equal(
      otherOwner(a, [a], [keda]),
      'HorizontalPodAutoscaler shop/keda-hpa-web (of KEDA ScaledObject web)',
    );
  });
});
