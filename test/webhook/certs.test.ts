// Certificates of the conversion webhook (issue 13, item 2): what planCertificates decides
// at a given time (pure: the time is an argument), and that issue() makes certificates that
// satisfy it, chain to the CA in ca.crt, and keep the previous CA in the bundle on rotation.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type CertBundle,
  type CertPolicy,
  issue,
  pemBlocks,
  planCertificates,
} from '../../src/webhook/certs.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const policy: CertPolicy = {
  hosts: ['tidemark-webhook.tidemark-system.svc', '127.0.0.1'],
  caValidityDays: 300,
  servingValidityDays: 90,
  renewFraction: 1 / 3,
};

describe('webhook certificates', () => {
  let first: CertBundle;
  it('creates a CA and a serving certificate when there are none, for every host', async () => {
    assert.equal(planCertificates(undefined, policy, T0).action, 'ca');
    assert.equal(planCertificates({ 'ca.crt': 'x' }, policy, T0).action, 'ca');
    first = await issue({ action: 'ca', reason: 'none' }, undefined, policy, T0);
    const ca = new X509Certificate(first['ca.crt']);
    const serving = new X509Certificate(first['tls.crt']);
    assert.ok(ca.ca);
    assert.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey));
    assert.ok(serving.checkHost('tidemark-webhook.tidemark-system.svc'));
    assert.ok(serving.checkIP('127.0.0.1'));
    assert.equal(serving.checkHost('other.svc'), undefined);
    assert.deepEqual(planCertificates(first, policy, T0), { action: 'keep' });
  });

  it('renews the serving certificate from the same CA when a third of its life is left', async () => {
    assert.deepEqual(planCertificates(first, policy, T0 + 59 * DAY), { action: 'keep' });
    const plan = planCertificates(first, policy, T0 + 61 * DAY);
    assert.equal(plan.action, 'serving');
    const next = await issue(plan, first, policy, T0 + 61 * DAY);
    assert.equal(next['ca.crt'], first['ca.crt']);
    assert.equal(next['ca.key'], first['ca.key']);
    assert.notEqual(next['tls.crt'], first['tls.crt']);
    assert.deepEqual(planCertificates(next, policy, T0 + 61 * DAY), { action: 'keep' });
  });

  it('renews the serving certificate when a host is missing or another CA signed it', async () => {
    const wider = {
      ...policy,
      hosts: [...policy.hosts, 'tidemark-webhook.tidemark-system.svc.cluster.local'],
    };
    assert.equal(planCertificates(first, wider, T0).action, 'serving');
    const other = await issue({ action: 'ca', reason: 'test' }, undefined, policy, T0);
    assert.equal(planCertificates({ ...first, 'tls.crt': other['tls.crt'] }, policy, T0).action, 'serving');
  });

  it('rotates the CA before it expires and keeps the old one in ca.crt while it is valid', async () => {
    const at = T0 + 201 * DAY;
    const plan = planCertificates(first, policy, at);
    assert.equal(plan.action, 'ca');
    const next = await issue(plan, first, policy, at);
    const blocks = pemBlocks(next['ca.crt']);
    assert.equal(blocks.length, 2);
    assert.equal(blocks[1], first['ca.crt']);
    const serving = new X509Certificate(next['tls.crt']);
    assert.ok(serving.checkIssued(new X509Certificate(blocks[0]!)));
    assert.deepEqual(planCertificates(next, policy, at), { action: 'keep' });
    // Once the old CA has expired it leaves the bundle on the next rotation.
    const later = await issue({ action: 'ca', reason: 'test' }, next, policy, T0 + 301 * DAY);
    assert.equal(pemBlocks(later['ca.crt']).length, 2);
    assert.ok(!later['ca.crt'].includes(first['ca.crt'].trim()));
  });
});
