// `tidemark run` as the benchmarks start it against their sandbox: /metrics on a free loopback
// port, the given Prometheus allowed, the Lease in `default` unless told otherwise (the demo,
// the benchmarks and the e2e tests).
export function sandboxRunArgs(prometheusUrl: string, leaseNamespace = 'default'): string[] {
  return [
    'run',
    '--metrics-port',
    '0',
    '--metrics-host',
    '127.0.0.1',
    '--allowed-prometheus',
    prometheusUrl,
    '--leader-election-namespace',
    leaseNamespace,
  ];
}
