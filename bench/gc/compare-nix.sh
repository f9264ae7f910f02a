#!/bin/sh
# Garbage collection of the same generated store by ferry and by Nix 2.8 (Debian's nix-bin):
#   bench/gc/compare-nix.sh [BUILD_DIR] [PATHS]
# gc-bench generates the store (half of it garbage) and writes its registrations as `nix-store --dump-db`
# does; the files are copied into a second root that Nix loads with `nix-store --load-db`, with the same
# gcroots link; then each collects once.
set -eu
build=${1:-build}
paths=${2:-100000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-gc-compare.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export NIX_CONF_DIR="$tmp/etc" XDG_CONFIG_HOME="$tmp/config"
mkdir -p "$NIX_CONF_DIR"

"$build/bench/gc/gc-bench" --paths "$paths" --dir "$tmp/ferry" --dump-db "$tmp/dump" --generate-only
mkdir -p "$tmp/nix/nix/store" "$tmp/nix/nix/var/nix/gcroots"
cp -a "$tmp/ferry/nix/store/." "$tmp/nix/nix/store/"
rm -rf "$tmp/nix/nix/store/.ferry-tmp"
nix_store="local?root=$tmp/nix"
start=$(date +%s.%N)
nix-store --store "$nix_store" --load-db < "$tmp/dump"
echo "nix-store --load-db: $(echo "$(date +%s.%N) - $start" | bc) s"
ln -s "$(readlink "$tmp/ferry/nix/var/ferry/gcroots/generated")" "$tmp/nix/nix/var/nix/gcroots/generated"

start=$(date +%s.%N)
"$build/src/cli/ferry" --store "$tmp/ferry" store gc 2>/dev/null | tail -1
echo "ferry store gc: $(echo "$(date +%s.%N) - $start" | bc) s"
start=$(date +%s.%N)
nix-store --store "$nix_store" --gc 2>/dev/null | tail -1
echo "nix-store --gc: $(echo "$(date +%s.%N) - $start" | bc) s"
