#!/usr/bin/env bash
# A Debian bookworm base image with Python 3.11, made without any container registry:
# debootstrap from the Debian mirror apt already uses, then `podman import` (or `docker import`).
#   deploy/container/base-image.sh IMAGE [ENGINE]
# Does nothing if IMAGE exists. Needs root (debootstrap) and the debootstrap package.
set -euo pipefail
image=${1:?usage: base-image.sh IMAGE [ENGINE]}
engine=${2:-podman}
if "$engine" image exists "$image" 2>/dev/null \
    || { [ "$(basename "$engine")" = docker ] && docker image inspect "$image" >/dev/null 2>&1; }; then
    echo "$image exists"
    exit 0
fi
# The mirror apt is configured with (deb822 sources or sources.list), else Debian's own.
mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/pumpapi-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror" >"$root.log" 2>&1 || { cat "$root.log"; exit 1; }
rm -f "$root.log"
# What an image does not need: downloaded packages, package lists (a build runs apt-get update
# itself), documentation and translations.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | "$engine" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$image"
