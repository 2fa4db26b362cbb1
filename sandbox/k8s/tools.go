//go:build tools

// Package tools records the commands the sandbox builds, so that `go mod tidy`
// keeps their dependencies in go.sum. etcd is built from the version this
// Kubernetes release pins its etcd client to (go.etcd.io/etcd/server/v3 is in
// its module graph already). The kubelet is built only for the opt-in real node
// (TIDEMARK_REAL_NODE=1, sandbox/real-node.sh).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
