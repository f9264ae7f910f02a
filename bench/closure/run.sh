#!/usr/bin/env bash
# The closure benchmark: how a binary cache's latency turns into wall-clock time.
#
#   bench/closure/run.sh [--paths 1055] [--depth 9] [--delay-ms 100] [--jobs 32] [--no-nix]
#
# Generates a synthetic signed cache (closure-gen), serves it on 127.0.0.1 with a fixed delay per
# response (closure-server), and times, for ferry and for Debian's Nix 2.8 side by side:
#   dry run, cold  (empty store, empty narinfo disk cache)
#   dry run, warm  (narinfo disk cache filled by the cold run)
#   realise        (empty store, fetch the whole closure; -j JOBS)
# and prints each time, the ratio Nix/ferry and the floor (depth + 1) x delay. Peak RSS is printed too.
set -euo pipefail

paths=1055 depth=9 delay=100 jobs=32 with_nix=1
while [ $# -gt 0 ]; do
  case "$1" in
    --paths) paths=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --delay-ms) delay=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-nix) with_nix=0; shift ;;
    *) echo "usage: $0 [--paths N] [--depth D] [--delay-ms MS] [--jobs J] [--no-nix]" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${FERRY_BUILD:-$root/build}"
ferry="$build/src/cli/ferry"
work="${TMPDIR:-/tmp}/ferry-closure-bench"
data="$work/cache-$paths-$depth"
mkdir -p "$work"

if [ ! -f "$data/top" ]; then
  echo "generating $paths paths, depth $depth in $data" >&2
  rm -rf "$data.tmp" && "$build/bench/closure/closure-gen" --out "$data.tmp" --paths "$paths" --depth "$depth" >/dev/null
  mv "$data.tmp" "$data"
fi
top=$(cat "$data/top")
key=$(cat "$data/public.key")

coproc server { exec "$build/bench/closure/closure-server" --dir "$data/cache" --delay-ms "$delay"; }
read -r _ port <&"${server[0]}"
url="http://127.0.0.1:$port"
trap 'exec {server[1]}>&-; wait 2>/dev/null || true' EXIT

# Runs a command, prints "<seconds> <peak RSS MiB>".
timed() {
  /usr/bin/time -f "%e %M" "$@" >/dev/null 2>"$work/last.err" || { echo "FAILED: $*" >&2; tail -5 "$work/last.err" >&2; }
  tail -1 "$work/last.err" | awk '{ printf "%.3f %.0f\n", $1, $2 / 1024 }'
}

fresh() { rm -rf "$work/store" "$work/xdg-cache" "$HOME/.cache/nix"; mkdir -p "$work/xdg-cache"; }

run_ferry() {
  XDG_CACHE_HOME="$work/xdg-cache" timed "$ferry" --store "$work/store" "$@" \
    --substituters "$url" --trusted-public-keys "$key" "$top"
}
run_nix() {
  timed nix-store --store "$work/store" -r "$@" --option substituters "$url" \
    --option trusted-public-keys "$key" "$top"
}

floor=$(awk -v d="$depth" -v ms="$delay" 'BEGIN { printf "%.3f", (d + 1) * ms / 1000 }')
echo "closure: $paths paths, depth $depth, delay $delay ms; floor (depth + 1) x delay = $floor s"

fresh; f_cold=$(run_ferry realise --dry-run)
f_warm=$(run_ferry realise --dry-run)
fresh; f_real=$(run_ferry realise -j "$jobs")

printf "%-22s %10s %10s %10s %10s\n" "" "ferry s" "MiB" "nix s" "nix/ferry"
row() {
  local name=$1 f=$2 n=${3:-}
  local fs=${f% *} fm=${f#* }
  if [ -n "$n" ]; then
    local ns=${n% *}
    printf "%-22s %10s %10s %10s %10s\n" "$name" "$fs" "$fm" "$ns" "$(awk -v a="$ns" -v b="$fs" 'BEGIN { printf "%.1fx", a / b }')"
  else
    printf "%-22s %10s %10s %10s %10s\n" "$name" "$fs" "$fm" "-" "-"
  fi
}

if [ "$with_nix" = 1 ] && command -v nix-store >/dev/null; then
  fresh; n_cold=$(run_nix --dry-run)
  n_warm=$(run_nix --dry-run)
  fresh; n_cold150=$(run_nix --dry-run --option http-connections 150)
  fresh; n_real=$(run_nix -j "$jobs")
  row "dry run, cold" "$f_cold" "$n_cold"
  row "  (nix with 150 conns)" "$f_cold" "$n_cold150"
  row "dry run, warm" "$f_warm" "$n_warm"
  row "realise -j $jobs" "$f_real" "$n_real"
else
  row "dry run, cold" "$f_cold"
  row "dry run, warm" "$f_warm"
  row "realise -j $jobs" "$f_real"
fi
fresh
