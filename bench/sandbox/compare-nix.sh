#!/usr/bin/env bash
# Builds the graph of sandbox-graph-gen with ferry's sandbox-bench and with Debian's Nix 2.8 (sandbox on,
# a fresh --store directory, no substituters, 2 builds at a time), and prints both times and the ratio.
#
#   bench/sandbox/compare-nix.sh GRAPH_DIR [BUILD_DIR]
#
# GRAPH_DIR is made by `BUILD_DIR/bench/sandbox/sandbox-graph-gen GRAPH_DIR` (it is made here when
# missing). Nix instantiates GRAPH_DIR/graph.nix, which must give the same top `.drv` path as ferry's
# generator (checked), then realises it. Needs root (Nix's sandbox with a diverted store here).
set -euo pipefail

graph=${1:?usage: compare-nix.sh GRAPH_DIR [BUILD_DIR]}
build=${2:-$(dirname "$0")/../../build}
jobs=2

[ -d "$graph/drv" ] || "$build/bench/sandbox/sandbox-graph-gen" "$graph"
command -v nix-store >/dev/null || { echo "compare-nix: nix-store not found (apt-get install nix-bin)" >&2; exit 1; }

work=$(mktemp -d /tmp/ferry-compare-nix.XXXXXX)
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/conf"
cat > "$work/conf/nix.conf" <<CONF
build-users-group =
sandbox = true
cores = 1
max-jobs = $jobs
experimental-features = nix-command
substituters =
CONF
export NIX_CONF_DIR="$work/conf" XDG_CACHE_HOME="$work/cache"

echo "== ferry (sandbox-bench, $jobs builds in flight)"
ferry_out=$("$build/bench/sandbox/sandbox-bench" "$graph" --jobs "$jobs")
echo "$ferry_out"
ferry_s=$(echo "$ferry_out" | awk '/^total:/ { print $2 }')

echo "== ferry build -j $jobs (the command: scheduler, sandbox, registration)"
ferry="$build/src/cli/ferry"
"$ferry" --store "$work/ferry-store" store add --name busybox-static "$graph/bb" >/dev/null
"$ferry" --store "$work/ferry-store" derivation add "$graph"/drv/*.drv >/dev/null
start=$(date +%s.%N)
"$ferry" --store "$work/ferry-store" build -j "$jobs" --no-out-link "$(cat "$graph/top")" >/dev/null 2>"$work/ferry.log" ||
    { tail -20 "$work/ferry.log" >&2; exit 1; }
end=$(date +%s.%N)
cmd_s=$(echo "$end - $start" | bc -l)
printf 'total: %.2f s\n' "$cmd_s"

echo "== nix 2.8 (nix-store --realise, max-jobs $jobs)"
top=$(nix-instantiate --store "$work/store" "$graph/graph.nix" 2>/dev/null)
if [ "$top" != "$(cat "$graph/top")" ]; then
    echo "compare-nix: Nix instantiated $top, ferry's generator wrote $(cat "$graph/top")" >&2
    exit 1
fi
start=$(date +%s.%N)
nix-store --store "$work/store" --realise "$top" --max-jobs "$jobs" >/dev/null 2>"$work/nix.log" ||
    { tail -20 "$work/nix.log" >&2; exit 1; }
end=$(date +%s.%N)
builds=$(ls "$graph/drv" | wc -l)
nix_s=$(echo "$end - $start" | bc -l)
printf 'total: %.2f s (%.1f ms per build)\n' "$nix_s" "$(echo "$nix_s * 1000 / $builds" | bc -l)"

echo "== comparison ($builds derivations)"
printf 'ferry sandbox-bench %.2f s, nix %.2f s, nix/ferry %.1fx\n' "$ferry_s" "$nix_s" "$(echo "$nix_s / $ferry_s" | bc -l)"
printf 'ferry build -j %s   %.2f s, nix %.2f s, nix/ferry %.1fx\n' "$jobs" "$cmd_s" "$nix_s" "$(echo "$nix_s / $cmd_s" | bc -l)"
