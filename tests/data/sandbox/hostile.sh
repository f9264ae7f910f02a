# The hostile builder: tries what no builder may manage, without changing anything if it did (files
# are opened for writing and never written, mounts go on its own build directory). One line per attempt
# into $out: "<what>: refused" or "<what>: ALLOWED". $secret, when set, is a file only root may read;
# $hostPid a process of the host (the test).
attempt() {
  what=$1
  shift
  if ( eval "$@" ) > /dev/null 2>&1; then echo "$what: ALLOWED"; else echo "$what: refused"; fi
}
writable() { exec 3>> "$1"; }
top=$NIX_BUILD_TOP
mkdir -p $top/mnt
nested() { unshare -U -r -m $builder -c "writable() { exec 3>> \"\$1\"; }; $*"; }
{
  attempt "write vm.swappiness" writable /proc/sys/vm/swappiness
  attempt "write kernel.core_pattern" writable /proc/sys/kernel/core_pattern
  attempt "write sysrq-trigger" writable /proc/sysrq-trigger
  attempt "write /etc/hosts" writable /etc/hosts
  attempt "mknod" mknod $top/null c 1 3
  attempt "mount" mount -t tmpfs none $top/mnt
  attempt "remount /proc/sys read-write" mount -o remount,rw /proc/sys
  # $hostPid is the test's own process, outside the build: a pid namespace or another uid hides it.
  attempt "signal a host process" kill -0 $hostPid
  attempt "read a host process's environment (ptrace access)" cat /proc/$hostPid/environ
  if test -n "$secret"; then attempt "read a root-only file" cat $secret; fi
  if test "$(unshare -U -r id -u)" = 0; then echo "nested root: yes"; else echo "nested root: no"; fi
  attempt "nested: write vm.swappiness" nested writable /proc/sys/vm/swappiness
  attempt "nested: write kernel.core_pattern" nested writable /proc/sys/kernel/core_pattern
  attempt "nested: write sysrq-trigger" nested writable /proc/sysrq-trigger
  attempt "nested: remount /proc/sys read-write" nested mount -o remount,rw /proc/sys
  attempt "nested: unmask /proc/kcore" nested umount /proc/kcore
  attempt "nested: write vm.swappiness through a new proc" \
    "unshare -U -r -m -p -f $builder -c 'mount -t proc proc $top/mnt && exec 3>> $top/mnt/sys/vm/swappiness'"
  if test -n "$secret"; then attempt "nested: read a root-only file" nested cat $secret; fi
} > $out
