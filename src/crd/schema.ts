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
    versions: Array<{ name: string; schema: { openAPIV3Schema: SchemaNode } }>;
  };
}

export const CRD_URL = new URL('../../crds/scalingpolicy.yaml', import.meta.url);

let cached: Crd | undefined;

/** The ScalingPolicy CRD as shipped in crds/, parsed once per process. */
export function loadCrd(): Crd {
  cached ??= parse(readFileSync(CRD_URL, 'utf8')) as Crd;
  return cached;
}

export function rootSchema(crd: Crd = loadCrd()): SchemaNode {
  const version = crd.spec.versions[0];
  if (!version) throw new Error('CRD has no version');
  return version.schema.openAPIV3Schema;
}
