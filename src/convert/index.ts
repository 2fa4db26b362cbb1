// `tidemark convert` without the I/O: Kubernetes objects in, ScalingPolicies (with the notes
// that say where they differ) out, each checked with the CRD's own validator, and their YAML.
import { Document, isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import { formatIssues, PolicyValidator } from '../crd/validate.ts';
import {
  ConvertError,
  type Converted,
  type ConvertOptions,
  describeSource,
  type Failure,
  isObj,
  type Note,
  type Obj,
  obj,
  sourceOf,
  str,
} from './common.ts';
import { convertHpa } from './from-hpa.ts';
import { type AuthIndex, convertScaledObject, KEDA_API_VERSION } from './from-keda.ts';

export type { Converted, ConvertOptions, Failure, Note } from './common.ts';

export interface Outcome {
  converted: Converted[];
  failures: Failure[];
  /** Objects left alone on purpose, with why (other kinds, HPAs that KEDA created). */
  skipped: string[];
  /** Names of options.queries that no metric of any object answered to (a typo, most likely). */
  unmatchedQueries: string[];
  /** The metric names a query may be given for, sorted. */
  metricNames: string[];
}

export function convertObjects(
  input: unknown[],
  options: ConvertOptions = {},
  validator = new PolicyValidator(),
): Outcome {
  const objects = flatten(input);
  const auths: AuthIndex = new Map();
  const scaledObjects = new Set<string>();
  for (const o of objects) {
    const s = sourceOf(o);
    if (/TriggerAuthentication$/.test(s.kind)) auths.set(`${s.namespace ?? ''}/${s.name}`, o);
    if (s.kind === 'ScaledObject') scaledObjects.add(`${s.namespace ?? ''}/${s.name}`);
  }
  const asked = new Set<string>();
  options = { ...options, asked };
  const out: Outcome = { converted: [], failures: [], skipped: [], unmatchedQueries: [], metricNames: [] };
  for (const o of objects) {
    const s = sourceOf(o);
    const source = describeSource(s);
    if (s.kind === 'HorizontalPodAutoscaler') {
      const owner = kedaOwner(o);
      if (owner && scaledObjects.has(`${s.namespace ?? ''}/${owner}`)) {
        out.skipped.push(`${source}: created by ScaledObject ${owner}, which is converted instead`);
        continue;
      }
    } else if (s.kind !== 'ScaledObject' || !s.apiVersion.startsWith('keda.sh/')) {
      if (!/TriggerAuthentication$/.test(s.kind))
        out.skipped.push(`${source}: not a HorizontalPodAutoscaler or ScaledObject`);
      continue;
    }
    try {
      if (s.kind === 'ScaledObject' && s.apiVersion !== KEDA_API_VERSION) {
        throw new ConvertError(`apiVersion ${s.apiVersion} is not supported (${KEDA_API_VERSION})`);
      }
      const { policy, notes } =
        s.kind === 'ScaledObject' ? convertScaledObject(o, auths, options) : convertHpa(o, options);
      const checked = validator.validate(policy);
      if (!checked.ok)
        throw new ConvertError(`the resulting ScalingPolicy is not valid:\n${formatIssues(checked.issues)}`);
      out.converted.push({ source, policy, notes });
    } catch (err) {
      if (!(err instanceof ConvertError)) throw err;
      out.failures.push({ source, message: err.message });
    }
  }
  markSharedTargets(out.converted);
  out.unmatchedQueries = Object.keys(options.queries ?? {}).filter((k) => !asked.has(k));
  out.metricNames = [...asked].filter((n) => !n.includes('/')).sort();
  return out;
}

/** `kind: List` (kubectl get -o yaml) and its items; anything that is not an object is skipped. */
function flatten(input: unknown[]): Obj[] {
  const out: Obj[] = [];
  for (const o of input) {
    if (!isObj(o)) continue;
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))
      out.push(...flatten(o.items));
    else out.push(o);
  }
  return out;
}

function kedaOwner(o: Obj): string | undefined {
  const refs = obj(o.metadata).ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  const ref = refs
    .map(obj)
    .find((r) => r.kind === 'ScaledObject' && String(r.apiVersion ?? '').startsWith('keda.sh/'));
  return ref ? str(ref.name) : undefined;
}

/** Two policies on one workload would both be refused (AmbiguousTarget): say so on each. */
function markSharedTargets(converted: Converted[]): void {
  const byTarget = new Map<string, Converted[]>();
  for (const c of converted) {
    const t = c.policy.spec.targetRef;
    const key = `${c.policy.metadata.namespace ?? ''}/${t.apiVersion}/${t.kind}/${t.name}`;
    byTarget.set(key, [...(byTarget.get(key) ?? []), c]);
  }
  for (const group of byTarget.values()) {
    if (group.length < 2) continue;
    for (const c of group) {
      c.notes.push({
        level: 'todo',
        path: ['spec', 'targetRef'],
        text: `${group.map((g) => g.source).join(' and ')} scale the same workload; only one ScalingPolicy may: merge their metrics into one.`,
      });
    }
  }
}

export const TODO_MARK = 'TODO(tidemark convert):';
export const NOTE_MARK = 'NOTE:';

/** One policy as a YAML document, each note as a `#` comment above the field it is about. */
export function renderPolicy(c: Converted): string {
  const doc = new Document(c.policy);
  const head = [`tidemark convert: from ${c.source}`];
  for (const n of c.notes) {
    const lines = wrap(`${n.level === 'todo' ? TODO_MARK : NOTE_MARK} ${n.text}`, 96);
    const node = n.path ? commentTarget(doc, n.path) : undefined;
    if (node)
      node.commentBefore = [node.commentBefore, ...lines.map((l) => ` ${l}`)].filter(Boolean).join('\n');
    else head.push(...lines);
  }
  doc.commentBefore = head.map((l) => ` ${l}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** The node a comment about `path` goes before: a map entry's key, or a sequence item. */
function commentTarget(doc: Document, path: (string | number)[]): Node | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const last = path[path.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((p: Pair) => (isScalar(p.key) ? p.key.value : p.key) === last);
    return pair && isScalar(pair.key) ? pair.key : undefined;
  }
  if (isSeq(parent) && typeof last === 'number') return parent.items[last] as Node | undefined;
  return undefined;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function hasTodo(c: Converted): boolean {
  return c.notes.some((n: Note) => n.level === 'todo');
}
