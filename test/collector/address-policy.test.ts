import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressPolicy } from '../../src/collector/address-policy.ts';

const policy = new AddressPolicy([
  'http://prometheus.monitoring.svc:9090',
  'https://thanos.example.com/prom/',
  'http://127.0.0.1:9090',
]);

function verdict(address: string): string {
  const c = policy.check(address);
  return c.ok ? `ok ${c.baseUrl}` : c.reason;
}

describe('AddressPolicy', () => {
  const allowed: Array<[string, string]> = [
    ['http://prometheus.monitoring.svc:9090', 'http://prometheus.monitoring.svc:9090'],
    ['http://prometheus.monitoring.svc:9090/', 'http://prometheus.monitoring.svc:9090'],
    ['HTTP://Prometheus.Monitoring.svc:9090', 'http://prometheus.monitoring.svc:9090'],
    ['https://thanos.example.com/prom', 'https://thanos.example.com/prom'],
    ['https://thanos.example.com:443/prom/', 'https://thanos.example.com/prom'],
    ['https://thanos.example.com/prom/tenant-a', 'https://thanos.example.com/prom/tenant-a'],
    ['http://2130706433:9090', 'http://127.0.0.1:9090'],
    ['http://0x7f.0.0.1:9090', 'http://127.0.0.1:9090'],
  ];
  for (const [address, base] of allowed) {
    it(`allows ${address}`, () => assert.equal(verdict(address), `ok ${base}`));
  }

  const notAllowed = [
    'http://prometheus.monitoring.svc:9091', // other port
    'https://prometheus.monitoring.svc:9090', // other scheme
    'http://prometheus.monitoring.svc.evil.com:9090', // suffix of a name
    'http://evil.com/prometheus.monitoring.svc:9090',
    'https://thanos.example.com/', // above the allowed path
    'https://thanos.example.com/prometheus', // prefix without a segment boundary
    'https://thanos.example.com/prom/../admin', // dot segments normalised away first
    'http://169.254.169.254', // cloud metadata
    'http://127.0.0.2:9090',
  ];
  for (const address of notAllowed) {
    it(`rejects ${address} as not allowed`, () => assert.equal(verdict(address), 'AddressNotAllowed'));
  }

  const invalid = [
    'http://user:pass@prometheus.monitoring.svc:9090', // userinfo
    'http://user@prometheus.monitoring.svc:9090',
    'http://@prometheus.monitoring.svc:9090',
    'http://prometheus.monitoring.svc:9090?x=1',
    'http://prometheus.monitoring.svc:9090#frag',
    'ftp://prometheus.monitoring.svc:9090',
    'file:///etc/passwd',
    'prometheus.monitoring.svc:9090',
    'https://thanos.example.com/prom/%2e%2e/admin',
    'https://thanos.example.com/prom%2fadmin',
    'https://thanos.example.com\\prom',
    'http://prometheus.monitoring.svc:9090/ x',
    'http://prometheus.monitoring.svc:9090\n',
    '',
  ];
  for (const address of invalid) {
    it(`rejects ${JSON.stringify(address)} as invalid`, () =>
      assert.equal(verdict(address), 'InvalidAddress'));
  }

  it('explains a rejection without credentials and names the address', () => {
    const c = policy.check('http://other:9090');
    assert.ok(!c.ok);
    assert.match(c.message, /http:\/\/other:9090 is not on the operator's allow-list/);
    const u = policy.check('http://alice:s3cr3t@prometheus.monitoring.svc:9090');
    assert.ok(!u.ok);
    assert.doesNotMatch(u.message, /s3cr3t/);
  });

  it('allows nothing when the list is empty', () => {
    assert.equal(new AddressPolicy([]).check('http://prometheus.monitoring.svc:9090').ok, false);
  });

  it('refuses an invalid allow-list entry at construction', () => {
    assert.throws(() => new AddressPolicy(['http://u:p@x:9090']), /invalid Prometheus allow-list entry/);
    assert.throws(() => new AddressPolicy(['not a url']));
  });

  it('lists its normalised entries', () => {
    assert.deepEqual(policy.entries, [
      'http://prometheus.monitoring.svc:9090',
      'https://thanos.example.com/prom',
      'http://127.0.0.1:9090',
    ]);
  });
});
