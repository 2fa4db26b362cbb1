// `tidemark convert`: HPAs and KEDA ScaledObjects, from files or the cluster, into
// ScalingPolicies on stdout. What cannot be converted is an error on stderr (exit 2); what
// converts but needs a person is held back unless --allow-todo prints it with TODO comments.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { convertObjects, hasTodo, renderPolicy } from '../convert/index.ts';
import { UserError, yamlValue } from './policy-file.ts';

export interface ConvertCliOptions {
  fromCluster?: boolean;
  namespace?: string;
  allNamespaces?: boolean;
  prometheus?: string;
  query: Record<string, string>;
  allowTodo?: boolean;
}

/** --query NAME=PROMQL, repeatable: NAME is the HPA metric's name, or HPA/METRIC for one HPA only. */
export function collectQuery(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0 || i === v.length - 1) throw new UserError(`--query must be NAME=PROMQL, got "${v}"`);
  return { ...previous, [v.slice(0, i).trim()]: v.slice(i + 1).trim() };
}

export function registerConvertCommand(program: Command): void {
  program
    .command('convert')
    .description(
      'convert HorizontalPodAutoscalers and KEDA ScaledObjects into ScalingPolicies (YAML on stdout)',
    )
    .argument('[files...]', 'YAML files with HPAs and ScaledObjects ("-" reads stdin)')
    .option('--from-cluster', 'read them from the cluster of the current kubeconfig instead')
    .option(
      '-n, --namespace <ns>',
      "with --from-cluster: the namespace (default: the context's, else default)",
    )
    .option('-A, --all-namespaces', 'with --from-cluster: every namespace')
    .option('--prometheus <url>', 'prometheus.address for converted HPAs (ScaledObjects name their own)')
    .option(
      '--query <name=promql>',
      'PromQL for an HPA metric served by an adapter or for cpu/memory (repeatable)',
      collectQuery,
      {},
    )
    .option(
      '--allow-todo',
      'also print policies that need a person, with `# TODO(tidemark convert):` comments, and exit 0',
    )
    .action(async (files: string[], opts: ConvertCliOptions) => {
      const objects = opts.fromCluster ? await readCluster(opts, files) : readFiles(files);
      process.stdout.write(convertAndReport(objects, opts));
    });
}

function readFiles(files: string[]): unknown[] {
  if (files.length === 0)
    throw new UserError('name the files to convert ("-" for stdin), or use --from-cluster');
  const objects: unknown[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    for (const doc of parseAllDocuments(text)) {
      const yaml = yamlValue(doc);
      if ('error' in yaml) throw new UserError(`${file}: ${yaml.error}`);
      objects.push(yaml.value);
    }
  }
  return objects;
}

/**
 * HPAs (autoscaling/v2) and ScaledObjects, both through the custom objects API: it returns the
 * JSON as the API server sent it, where the typed HPA client would drop fields newer than the
 * client (behavior tolerances). A missing ScaledObject CRD just means there are none.
 */
async function readCluster(opts: ConvertCliOptions, files: string[]): Promise<unknown[]> {
  if (files.length > 0) throw new UserError('give files or --from-cluster, not both');
  const { KubeConfig, CustomObjectsApi } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const api = kc.makeApiClient(CustomObjectsApi);
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const list = async (group: string, version: string, plural: string): Promise<unknown[]> => {
    const res = (await (opts.allNamespaces
      ? api.listClusterCustomObject({ group, version, plural })
      : api.listNamespacedCustomObject({ group, version, namespace, plural }))) as { items?: unknown[] };
    // List items carry no apiVersion/kind of their own.
    const kind = plural === 'scaledobjects' ? 'ScaledObject' : 'HorizontalPodAutoscaler';
    return (res.items ?? []).map((o) => ({ apiVersion: `${group}/${version}`, kind, ...(o as object) }));
  };
  const where = opts.allNamespaces ? 'all namespaces' : `namespace ${namespace}`;
  try {
    const hpas = await list('autoscaling', 'v2', 'horizontalpodautoscalers');
    let scaledObjects: unknown[] = [];
    try {
      scaledObjects = await list('keda.sh', 'v1alpha1', 'scaledobjects');
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      process.stderr.write('note: KEDA is not installed (no ScaledObject CRD): converting HPAs only\n');
    }
    if (hpas.length + scaledObjects.length === 0)
      throw new UserError(`no HorizontalPodAutoscaler or ScaledObject in ${where}`);
    return [...hpas, ...scaledObjects];
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as { code?: number; message?: string };
    throw new UserError(
      `cannot read from the cluster (${where}): ${e.code ? `HTTP ${e.code}: ` : ''}${(e.message ?? String(err)).split('\n')[0]}`,
    );
  }
}

/** Converts, writes what needs saying to stderr, returns stdout; throws UserError (exit 2) when something did not convert. */
export function convertAndReport(objects: unknown[], opts: ConvertCliOptions): string {
  if (opts.prometheus !== undefined && !/^https?:\/\/\S+$/.test(opts.prometheus)) {
    throw new UserError(`--prometheus must be an http(s) URL, got "${opts.prometheus}"`);
  }
  const out = convertObjects(objects, {
    ...(opts.prometheus ? { prometheus: opts.prometheus } : {}),
    queries: opts.query,
  });
  if (out.unmatchedQueries.length > 0) {
    const names = out.unmatchedQueries.join(', ');
    throw new UserError(
      `--query ${names} matched no metric; the metrics are: ${out.metricNames.join(', ') || 'none'} (or OBJECT/METRIC for one object)`,
    );
  }
  const err = (s: string) => process.stderr.write(`${s}\n`);
  for (const s of out.skipped) err(`note: skipped ${s}`);
  for (const f of out.failures) err(`error: ${f.source}: ${f.message}`);
  const docs: string[] = [];
  let held = 0;
  for (const c of out.converted) {
    const todos = c.notes.filter((n) => n.level === 'todo');
    if (hasTodo(c) && !opts.allowTodo) {
      held++;
      err(`error: ${c.source}: needs a person before it can be applied:`);
      for (const t of todos) err(`  - ${t.text}`);
      continue;
    }
    if (todos.length > 0)
      err(`warning: ${c.source}: ${todos.length} TODO comment(s) in its policy to resolve before applying`);
    docs.push(renderPolicy(c));
  }
  const text = docs.join('---\n');
  const failed = out.failures.length + held;
  if (out.converted.length + out.failures.length === 0) {
    throw new UserError('no HorizontalPodAutoscaler or ScaledObject found in the input');
  }
  if (failed > 0) {
    process.stdout.write(text);
    throw new UserError(
      `${failed} of ${out.converted.length + out.failures.length} objects not converted (above)` +
        (held > 0
          ? '; --allow-todo prints those that need a person, with `# TODO(tidemark convert):` comments'
          : ''),
    );
  }
  return text;
}
