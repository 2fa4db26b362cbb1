{{/* The labels kustomize adds to every object in deploy/, plus Helm's own. */}}
{{- define "tidemark.labels" -}}
app.kubernetes.io/name: tidemark
app.kubernetes.io/part-of: tidemark
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The rules the operator needs where it watches policies: deploy/cluster/clusterrole.yaml. */}}
{{- define "tidemark.watchRules" -}}
- apiGroups: [tidemark.dev]
  resources: [scalingpolicies]
  verbs: [list, watch]
- apiGroups: [tidemark.dev]
  resources: [scalingpolicies/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale, replicasets/scale]
  verbs: [get, update]
- apiGroups: [apps]
  resources: [deployments, statefulsets, replicasets]
  verbs: [list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}

{{/* Cluster-scoped reads, in the ClusterRole only: a custom resource target's CRD (its scale paths). */}}
{{- define "tidemark.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get]
{{- end -}}

{{- define "tidemark.subjects" -}}
- kind: ServiceAccount
  name: tidemark
  namespace: {{ .Release.Namespace }}
{{- end -}}
