// The Helm chart in charts/tidemark, rendered and installed by the helm that
// sandbox/build.sh builds (HELM_VERSION in sandbox/versions.sh, cached beside
// the other sandbox binaries), and compared with what kustomize builds.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { sandboxEnv } from '../../support/sandbox.ts';
import { type K8sObject, REPO } from './manifests.ts';

const execFileAsync = promisify(execFile);

export const CHART = join(REPO, 'charts/tidemark');

/** Where sandbox/build.sh puts helm (the same rule as sandbox/versions.sh); $HELM overrides it. */
export function helmBinary(): string {
  if (process.env.HELM) return process.env.HELM;
  const versions = readFileSync(join(REPO, 'sandbox/versions.sh'), 'utf8');
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error('sandbox/versions.sh sets no HELM_VERSION');
  const cache =
    process.env.TIDEMARK_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tidemark');
  return join(cache, `helm-${version}`, 'helm');
}

/** Runs helm against the sandbox; rejects on a non-zero exit with stderr in the message. */
export async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(helmBinary(), args, {
      env: { ...process.env, KUBECONFIG: sandboxEnv().kubeconfig },
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export function parseObjects(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml)
    .filter((d) => d.contents !== null)
    .map((d) => d.toJS() as K8sObject);
}

/** `helm template` of the chart into namespace tidemark-system, as deploy/ installs it. */
export async function renderChart(set: string[] = [], chart = CHART): Promise<string> {
  return helm([
    'template',
    'tidemark',
    chart,
    '--namespace',
    'tidemark-system',
    ...set.flatMap((s) => ['--set', s]),
  ]);
}

const HELM_ONLY_ANNOTATIONS = ['helm.sh/resource-policy'];

/**
 * An object without what only one of the two tools adds: labels (kustomize's
 * two and Helm's own) and the chart's keep annotation on the CRD. Everything
 * else must match.
 */
export function withoutToolMetadata(o: K8sObject): K8sObject {
  const { labels: _labels, ...metadata } = o.metadata as K8sObject['metadata'] & {
    annotations?: Record<string, string>;
  };
  const annotations = { ...(metadata.annotations ?? {}) };
  for (const a of HELM_ONLY_ANNOTATIONS) delete annotations[a];
  const { annotations: _a, ...rest } = metadata;
  return {
    ...o,
    metadata: Object.keys(annotations).length > 0 ? { ...rest, annotations } : rest,
  } as K8sObject;
}

/** Objects keyed kind/namespace/name, for an object-by-object comparison. */
export function byIdentity(objects: K8sObject[]): Map<string, K8sObject> {
  return new Map(
    objects.map((o) => [
      `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`,
      withoutToolMetadata(o),
    ]),
  );
}
