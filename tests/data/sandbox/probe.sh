# The sandbox probe: records what the builder sees into $out (a directory), one file per fact.
# Run by busybox sh as PID 1 of the sandbox; $hostPort is a TCP port the test listens on at the
# host's 127.0.0.1; $loPort a port for a server inside the sandbox.
mkdir $out
for p in /proc/[0-9]*; do echo ${p#/proc/}; done > $out/proc-pids
tr '\0' '\n' < /proc/1/environ > $out/environ
cat /etc/passwd > $out/passwd
cat /etc/group > $out/group
cat /etc/hosts > $out/hosts
hostname > $out/hostname
cat /proc/sys/kernel/domainname > $out/domainname
id > $out/id
echo $$ > $out/pid
pwd > $out/pwd
ls -a / > $out/root-listing
ls -a /dev > $out/dev-listing
ls -a /build > $out/build-listing
ls -a $NIX_STORE > $out/store-listing
stat -c '%n %a %u %g' / /tmp /build /nix /nix/store /etc /etc/passwd /etc/group /etc/hosts > $out/modes
for f in /etc/shadow /root /usr /bin /var /home /sys; do
  if test -e $f; then echo "$f present"; else echo "$f absent"; fi
done > $out/host-files
echo x 2> $out/write-input > $NIX_STORE/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static/new
echo "exit $?" >> $out/write-input
touch $out/setuid-target
chmod u+s $out/setuid-target 2> $out/setuid
echo "exit $?" >> $out/setuid
chmod 644 $out/setuid-target
nc -w 2 127.0.0.1 $hostPort < /dev/null > /dev/null 2>&1
echo "exit $?" > $out/connect-host
# The server's stdin is the connection (-e), so it cannot end before the data arrives.
nc -l -p $loPort -e $builder -c 'cat > /build/received' &
i=0
while [ $i -lt 50 ]; do
  echo ping | nc 127.0.0.1 $loPort 2> /dev/null && break
  i=$((i + 1))
  usleep 100000
done
wait
cat /build/received > $out/loopback
echo done
