#!/usr/bin/env bash
# Remote builds: ferry's build slots over ssh against Nix 2.8's build hook, on the same .drv files in the
# same run. Two loopback "machines" (two sshd of Debian's openssh-server on free ports of 127.0.0.1, each
# with a forced `nix-store --serve --write --store <its own store>`) plus the local machine build a graph
# of 200 derivations of ~0.2 s each (6 levels: 40, 40, 40, 40, 39, 1; each depends on two of the level
# below, the top on the whole level below). Prints the wall time of each, the ratio, the ssh sessions
# each opened (the forced command counts them) and ferry's protocol overhead per remote build.
#
#   bench/remote/run.sh [--build-dir DIR] [--jobs 2] [--remote-jobs 4] [--no-nix] [--keep] [--wrap 'CMD']
#
# --wrap runs ferry under CMD, e.g. --wrap 'perf stat -e task-clock --' (its output: ferry-wrap.txt).
#
# Needs root (Nix's sandbox on a diverted store; sshd). Nothing of the machine's ssh or Nix configuration
# is used or changed; everything lives in a temporary directory, removed at the end with the sshd.
set -euo pipefail

build=$(dirname "$0")/../../build
jobs=2
remote_jobs=4
run_nix=1
keep=0
wrap=()
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --remote-jobs) remote_jobs=$2; shift ;;
    --no-nix) run_nix=0 ;;
    --keep) keep=1 ;;
    --wrap) read -ra wrap <<<"$2"; shift ;;
    *) echo "usage: run.sh [--build-dir DIR] [--jobs N] [--remote-jobs N] [--no-nix] [--keep] [--wrap CMD]" >&2; exit 2 ;;
    esac
    shift
done
build=$(realpath "$build")
ferry="$build/src/cli/ferry"
for tool in nix-store nix-instantiate /usr/sbin/sshd ssh ssh-keygen ssh-keyscan jq; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ferry-remote-bench.XXXXXX)
sshd_pids=()
cleanup() {
    for pid in "${sshd_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$keep" = 1 ]; then echo "kept $work"; return; fi
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The builder: stamps its own start and end (adjtimex: microseconds) around the 0.2 s, into its log.
script='stamp() { adjtimex | awk '\''/tv_sec/ { s = $2 } /tv_usec/ { printf "%d.%06d", s, $2 }'\''; }; '
script+='t0=$(stamp); sleep 0.2; echo $name > $out; echo "bench-builder $name $t0 $(stamp)"'
"$build/bench/sandbox/sandbox-graph-gen" "$work/graph" --levels 40,40,40,40,39,1 --script "$script" >/dev/null
top=$(cat "$work/graph/top")
builds=$(ls "$work/graph/drv" | wc -l)

# Configuration of the local side (ferry and nix) and of the remote nix-store --serve.
mkdir -p "$work/conf" "$work/remote-conf"
printf 'build-users-group =\nsandbox = true\ncores = 1\nsubstituters =\nexperimental-features = nix-command\n' |
    tee "$work/remote-conf/nix.conf" >"$work/conf/nix.conf"
printf 'max-jobs = %s\nbuilders-use-substitutes = false\n' "$jobs" >>"$work/conf/nix.conf"
export NIX_CONF_DIR="$work/conf" XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"

# One host key and one user key for both machines.
ssh-keygen -q -t ed25519 -N '' -C ferry-bench -f "$work/host_key" </dev/null
ssh-keygen -q -t ed25519 -N '' -C ferry-bench -f "$work/user_key" </dev/null
if [ ! -d /run/sshd ]; then
    echo "run.sh: creating /run/sshd (sshd's privilege separation directory)" >&2
    mkdir -p /run/sshd && chmod 755 /run/sshd
fi
user=$(id -un)

# start_machine PHASE N: sshd for machine N of PHASE on a free port; its port in $port.
start_machine() {
    local dir="$work/$1/m$2"
    mkdir -p "$dir"
    : >"$dir/sessions"
    local serve="env NIX_CONF_DIR=$work/remote-conf XDG_CACHE_HOME=$dir/cache nix-store --serve --write --store $dir/store"
    printf 'command="echo >>%s/sessions; exec %s",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty %s\n' \
        "$dir" "$serve" "$(cat "$work/user_key.pub")" >"$dir/authorized_keys"
    chmod 600 "$dir/authorized_keys"
    for _ in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers $user
MaxStartups 200
MaxSessions 200
LogLevel ERROR
EOF
        /usr/sbin/sshd -D -e -f "$dir/sshd_config" </dev/null >"$dir/sshd.log" 2>&1 &
        local pid=$!
        sshd_pids+=("$pid")
        # Ours when it answers with our host key (ssh-keyscan opens no session), as long as it lives.
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            if ssh-keyscan -T 1 -t ed25519 -p "$port" 127.0.0.1 2>/dev/null | grep -qF "$(cut -d' ' -f2 "$work/host_key.pub")"; then
                kill -0 "$pid" 2>/dev/null && return 0
            fi
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "run.sh: sshd did not start: $(cat "$dir/sshd.log")" >&2
    exit 1
}

# start_machines PHASE: both machines, the ssh configuration that names them, and $builders.
start_machines() {
    local n
    builders=""
    : >"$work/$1.known_hosts"
    : >"$work/$1.ssh_config"
    for n in 1 2; do
        start_machine "$1" "$n"
        echo "[127.0.0.1]:$port $(cat "$work/host_key.pub")" >>"$work/$1.known_hosts"
        printf 'Host ferry-bench-m%s\n  HostName 127.0.0.1\n  Port %s\n' "$n" "$port" >>"$work/$1.ssh_config"
        builders+="${builders:+; }ssh://$user@ferry-bench-m$n x86_64-linux $work/user_key $remote_jobs 1 - - -"
    done
    printf 'Host *\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n' \
        "$work/$1.known_hosts" >>"$work/$1.ssh_config"
    export NIX_SSHOPTS="-F $work/$1.ssh_config"
}

stop_machines() {
    for pid in "${sshd_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    sshd_pids=()
}

sessions() { cat "$work/$1"/m*/sessions | wc -l; }
now() { date +%s.%N; }

echo "== $builds derivations (~0.2 s each), 2 machines x $remote_jobs jobs over ssh + $jobs local"

# ---- ferry
start_machines ferry
fstore="$work/ferry-store"
"$ferry" --store "$fstore" store add --name busybox-static "$work/graph/bb" >/dev/null
"$ferry" --store "$fstore" derivation add "$work"/graph/drv/*.drv >/dev/null
start=$(now)
"${wrap[@]}" "$ferry" --store "$fstore" build -j "$jobs" --builders "$builders" --no-out-link \
    --log-format internal-json -vvv "$top" >"$work/ferry.out" 2>"$work/ferry.json" ||
    { grep -v '^@nix' "$work/ferry.json" | tail -20 >&2; jq -r 'select(.action == "msg") | .msg' \
        < <(sed -n 's/^@nix //p' "$work/ferry.json") | tail -20 >&2; exit 1; }
end=$(now)
ferry_s=$(echo "$end - $start" | bc -l)
if [ ${#wrap[@]} -gt 0 ]; then # what the wrapper wrote (with ferry's JSON) apart
    grep -v '^@nix ' "$work/ferry.json" >"$work/ferry-wrap.txt" || true
    cat "$work/ferry-wrap.txt"
fi
ferry_sessions=$(sessions ferry)
stop_machines
events="$work/ferry.events"
sed -n 's/^@nix //p' "$work/ferry.json" >"$events"
ferry_remote=$(jq -r 'select(.action == "start" and .type == 105 and .fields[1] != "") | .id' "$events" | wc -l)
printf 'ferry: %.2f s, %s builds remote, %s ssh sessions\n' "$ferry_s" "$ferry_remote" "$ferry_sessions"

# Overhead per remote build, from ferry's event stream (-vvv: two debug lines per remote build) and the
# builder's stamps in its log:
#   total  = ferry's time for the build (from the slot's grant: inputs queried and copied, BuildDerivation,
#            the outputs' infos and NARs back, verified and staged; registration not counted)
#            - the builder's own run time on the remote (its stamps around `sleep 0.2`);
#   remote = the remote nix-store's answer time to BuildDerivation - the builder's run (Nix's own cost of a
#            build there: its goal, sandbox, registration of the outputs);
#   ferry  = total - remote: what the protocol and ferry add (round trips, uploads, downloads, staging).
jq -r 'select(.action == "msg") | .msg' "$events" >"$work/ferry.msgs"
sed -n "s/^remote build of '[^']*-\(bench-[0-9]*-[0-9]*\).drv' on '[^']*': \([0-9.]*\) ms (inputs \([0-9.]*\) ms.*/\1 \2 \3/p" \
    "$work/ferry.msgs" | sort >"$work/remote-times"
sed -n "s/^BuildDerivation of '[^']*-\(bench-[0-9]*-[0-9]*\).drv' on '[^']*': answered in \([0-9.]*\) ms, outputs back in \([0-9.]*\) ms/\1 \2 \3/p" \
    "$work/ferry.msgs" | sort >"$work/answer-times"
jq -r 'select(.action == "result" and .type == 101) | .fields[0]' "$events" |
    awk '$1 == "bench-builder" { printf "%s %.3f\n", $2, ($4 - $3) * 1000 }' | sort >"$work/builder-times"
# name total inputs answered outputs-back builder → total-overhead remote ferry inputs outputs-back
join "$work/remote-times" "$work/answer-times" | join - "$work/builder-times" |
    awk '{ printf "%.3f %.3f %.3f %.3f %.3f\n", $2 - $6, $4 - $6, $2 - $4, $3, $5 }' >"$work/overheads"
stats() { # column $1 of $work/overheads: median, p90, max
    sort -n -k"$1" "$work/overheads" | awk -v c="$1" '{ v[NR] = $c } END {
        if (NR == 0) { print "no remote builds"; exit }
        m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.999)]; if (p == "") p = v[NR]
        printf "median %6.1f ms, p90 %6.1f ms, max %7.1f ms", m, p, v[NR] }'
}
echo "overhead per remote build ($(wc -l <"$work/overheads") with the builder's stamps in their log):"
echo "  total (ferry's time for it - the builder's run):      $(stats 1)"
echo "  remote nix-store (BuildDerivation answer - builder):  $(stats 2)"
echo "  ferry and the protocol (total - remote nix-store):    $(stats 3)"
echo "    of which inputs (QueryValidPaths, uploads):         $(stats 4)"
echo "    of which outputs (QueryPathInfos, NARs, staging):   $(stats 5)"

[ "$run_nix" = 1 ] || exit 0

# ---- nix 2.8
start_machines nix
nstore="$work/nix-store"
ntop=$(nix-instantiate --store "$nstore" "$work/graph/graph.nix" 2>/dev/null)
if [ "$ntop" != "$top" ]; then
    echo "run.sh: Nix instantiated $ntop, the generator wrote $top" >&2
    exit 1
fi
start=$(now)
nix-store --store "$nstore" --realise "$top" --builders "$builders" --max-jobs "$jobs" \
    >"$work/nix.out" 2>"$work/nix.log" || { tail -20 "$work/nix.log" >&2; exit 1; }
end=$(now)
nix_s=$(echo "$end - $start" | bc -l)
nix_sessions=$(sessions nix)
stop_machines
nix_remote=$(grep -c "^building '.*' on 'ssh://" "$work/nix.log" || true)
printf 'nix:   %.2f s, %s builds remote, %s ssh sessions\n' "$nix_s" "$nix_remote" "$nix_sessions"

# Same outputs: the top's NAR hash in both stores.
fhash=$("$ferry" --store "$fstore" path-info --json "$(cat "$work/ferry.out")" | jq -r '.[0].narHash')
nhash=$(nix hash to-sri "$(nix-store --store "$nstore" --query --hash "$(cat "$work/nix.out")")")
[ "$(cat "$work/ferry.out")" = "$(cat "$work/nix.out")" ] && [ "$fhash" = "$nhash" ] ||
    { echo "run.sh: ferry built $(cat "$work/ferry.out") ($fhash), nix $(cat "$work/nix.out") ($nhash)" >&2; exit 1; }

echo "== comparison"
printf 'ferry %.2f s (%s ssh sessions), nix %.2f s (%s ssh sessions), nix/ferry %.1fx\n' \
    "$ferry_s" "$ferry_sessions" "$nix_s" "$nix_sessions" "$(echo "$nix_s / $ferry_s" | bc -l)"
echo "the same top output from both: $(cat "$work/nix.out") $nhash"
