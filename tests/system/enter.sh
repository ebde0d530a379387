#!/bin/sh
# PID 1 of the system test's namespaces: lays out the machine, then becomes systemd.
#
#   enter.sh BASE RUN WHEELS
#
# BASE is the cached root (never written), RUN the run's folder (upper/ and
# work/ of the overlay, merged/ where it is mounted, console), WHEELS the
# wheelhouse, mounted read-only at /mnt/wheels. Every mount here is made in this
# private mount namespace, so it vanishes with the namespace's last process.
# The layout follows what systemd asks of a container manager
# (https://systemd.io/CONTAINER_INTERFACE/): /proc/sys and /sys read-only so the
# host kernel's settings stay the host's, a /dev of its own, no host console.
set -eu
base=$1 run=$2 wheels=$3
root=$run/merged

# Writes go to upper/; the cached root underneath stays as it was built.
mount -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$root"

mount -t proc proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"

mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for device in null zero full random urandom tty; do
    touch "$root/dev/$device"
    mount --bind "/dev/$device" "$root/dev/$device"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
# The console is a file: systemd's own messages end up in the run's log.
touch "$root/dev/console"
mount --bind "$run/console" "$root/dev/console"

mkdir -p "$root/mnt/wheels"
mount --bind -o ro "$wheels" "$root/mnt/wheels"

# systemd reads its "kernel command line" from its own arguments in a container
# ($container is set): cgroup v2 only, in the cgroup namespace the runner made,
# so it never touches the host's cgroup v1 hierarchies.
exec chroot "$root" /lib/systemd/systemd --system systemd.unified_cgroup_hierarchy=1
