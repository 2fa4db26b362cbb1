//go:build tools

// Package tools records the commands the sandbox builds from KEDA (its operator
// and its metrics API server, the "adapter"), so that `go mod tidy` keeps their
// dependencies in go.sum.
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/adapter"
	_ "github.com/kedacore/keda/v2/cmd/operator"
)
