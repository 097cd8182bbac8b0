#!/usr/bin/env bash
# Build the offline base image for the sandbox tests (no registry is reachable here):
# a minimal Debian bookworm with python3, imported into Docker. Idempotent: does nothing
# when the tag exists. Needs root, debootstrap and a Debian mirror (setup.sh --test).
set -euo pipefail
tag=${1:-ptb-base:bookworm}
if docker image inspect "$tag" >/dev/null 2>&1; then exit 0; fi
root=$(mktemp -d /var/tmp/ptb-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,procps bookworm "$root" >/dev/null
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "built $tag"
