import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** A node of the CRD's OpenAPI v3 schema, with the Kubernetes extensions Tidemark uses. */
export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
  default?: unknown;
  anyOf?: SchemaNode[];
  'x-kubernetes-validations'?: Array<{ rule: string; message?: string; fieldPath?: string }>;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [keyword: string]: unknown;
}

export interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: SchemaNode };
    }>;
  };
}

export const CRD_URL = new URL('../../crds/scalingpolicy.yaml', import.meta.url);

let cached: Crd | undefined;

/** The ScalingPolicy CRD as shipped in crds/, parsed once per process. */
export function loadCrd(): Crd {
  cached ??= parse(readFileSync(CRD_URL, 'utf8')) as Crd;
  return cached;
}

/** The version the API server stores (and the operator reads and writes). */
export function storageVersion(crd: Crd = loadCrd()): string {
  const version = crd.spec.versions.find((v) => v.storage);
  if (!version) throw new Error('CRD has no storage version');
  return version.name;
}

/** The names of the versions the API server serves, in the CRD's order. */
export function servedVersions(crd: Crd = loadCrd()): string[] {
  return crd.spec.versions.filter((v) => v.served).map((v) => v.name);
}

/** The schema of one version, the storage version by default. */
export function rootSchema(crd: Crd = loadCrd(), name: string = storageVersion(crd)): SchemaNode {
  const version = crd.spec.versions.find((v) => v.name === name);
  if (!version) throw new Error(`CRD has no version ${name}`);
  return version.schema.openAPIV3Schema;
}
