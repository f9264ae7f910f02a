# Sourced by scripts/demo and scripts/test: installs the Debian packages ferry needs (only those
# missing; `apt-get update` runs once, only when something is missing), then configures and builds
# build/ (configured once, rebuilt incrementally).
set -euo pipefail

FERRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FERRY_BUILD="${FERRY_BUILD:-$FERRY_ROOT/build}"

FERRY_PACKAGES=(
  g++ meson ninja-build pkg-config
  libboost1.81-dev libcurl4-openssl-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libssl-dev libsodium-dev liblzma-dev libzstd-dev libbz2-dev
  nlohmann-json3-dev libcli11-dev libseccomp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 iproute2 util-linux
)
# Only the test suite compares with real Nix (Debian's Nix 2.8); scripts/check-format runs clang-format.
# The remote tests start sshd on 127.0.0.1 and reach it with ssh.
FERRY_TEST_PACKAGES=(nix-bin clang-format openssh-server openssh-client)
# scripts/fuzz: clang (Debian 12: clang 14) and its runtime libraries (libFuzzer, the sanitizers), which
# clang only recommends.
FERRY_FUZZ_PACKAGES=(clang libclang-rt-dev)

ferry_install_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ferry_build() {
  ferry_install_packages "${FERRY_PACKAGES[@]}" "$@"
  if [ ! -f "$FERRY_BUILD/build.ninja" ]; then
    meson setup "$FERRY_BUILD" "$FERRY_ROOT" --buildtype=debugoptimized >/dev/null
  fi
  ninja -C "$FERRY_BUILD" -j "$(nproc)" >/dev/null || ninja -C "$FERRY_BUILD" -j 1
}
