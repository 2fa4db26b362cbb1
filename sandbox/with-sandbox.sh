#!/usr/bin/env bash
# Placeholder until the local control plane lands (issue 3): runs the command as is.
set -euo pipefail
exec "$@"
