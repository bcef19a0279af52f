#!/bin/busybox sh
# PID 1 of the test VM (test/vm/vm.ts copies it into the initramfs as /init, beside a static
# busybox and the modules that reach the host tree).
#
# 1. Loads virtio and 9p (modules.list, in dependency order) and mounts the host's / over
#    9p, read-only, at /host.
# 2. Mounts the run directory (the only read-write share; job.env says where to work and
#    what to load), puts tmpfs where the guest must write (/tmp, /run, /var/tmp, /var/log,
#    /var/lib) while keeping the working directory visible even when it lies under one of
#    them, moves the run directory to /run/nvgw-vm, and makes the kernel's module loader
#    run the host's modprobe inside /host (this root has no modules tree).
# 3. Loads the kernel modules named in the job (the host's modprobe resolves dependencies),
#    then runs the job's command in a chroot of /host as root, its output on the console.
# 4. Writes the command's exit status to /run/nvgw-vm/status, prints it and powers off.
#
# Nothing here is specific to one test: the job (job.env in the run directory) says what
# to load and run.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /host
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "nvgw-vm: $*"; }
say "init started at $(cut -d' ' -f1 /proc/uptime) s (guest uptime)"
fail() {
  say "init failed: $*"
  echo 1 > /proc/sys/kernel/sysrq 2>/dev/null
  poweroff -f
}

while read -r module; do
  insmod "/lib/modules/$module" || fail "insmod $module"
done < /modules.list

# cache=loose: the host tree is read-only for the VM's lifetime, so the page cache may keep
# what it read (node and node_modules are read many times).
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 host /host || fail "mount the host tree over 9p"
mkdir -p /job /keep
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=262144 run /job || fail "mount the run directory over 9p"
[ -f /job/job.env ] || fail "no job.env in the run directory"
. /job/job.env
[ -d "/host$NVGW_VM_CWD" ] || fail "no directory $NVGW_VM_CWD in the host tree"

# The working directory (the repository) may itself live under a directory that gets a
# tmpfs (CI clones into /tmp): hold it on /keep and put it back on top afterwards.
mount --bind "/host$NVGW_VM_CWD" /keep || fail "bind $NVGW_VM_CWD"
for dir in tmp run var/tmp var/log var/lib; do
  mount -t tmpfs -o mode=1777 tmpfs "/host/$dir" || fail "tmpfs on /$dir"
done
if [ -d "/host$NVGW_VM_CWD" ]; then
  umount /keep
else
  mkdir -p "/host$NVGW_VM_CWD" && mount --move /keep "/host$NVGW_VM_CWD" || fail "put $NVGW_VM_CWD back over the tmpfs"
fi
mkdir -p /host/run/nvgw-vm /host/run/netns /host/dev
mount --move /job /host/run/nvgw-vm || fail "move the run directory under /run"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm

# Requests the kernel makes by itself (a netfilter match, a qdisc) run this root's
# /sbin/modprobe; send them to the host's, which knows where the modules are.
cat > /sbin/modprobe-host <<'EOF'
#!/bin/sh
exec chroot /host /sbin/modprobe "$@"
EOF
chmod 755 /sbin/modprobe-host
echo /sbin/modprobe-host > /proc/sys/kernel/modprobe

say "guest kernel $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB"
if [ -n "$NVGW_VM_MODULES" ]; then
  # shellcheck disable=SC2086 # NVGW_VM_MODULES is a list of names
  chroot /host /sbin/modprobe -a $NVGW_VM_MODULES || fail "modprobe $NVGW_VM_MODULES"
fi
say "modules loaded: $NVGW_VM_MODULES"
say "booted in $(cut -d' ' -f1 /proc/uptime) s (guest uptime)"

chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TERM=dumb NO_COLOR=1 \
  NVGW_IN_VM=1 CI="${CI:-}" /bin/sh -c "cd \"\$1\" && exec /bin/sh /run/nvgw-vm/command.sh" sh "$NVGW_VM_CWD" < /dev/console
status=$?

echo "$status" > /host/run/nvgw-vm/status
sync
say "command exited with status $status"
poweroff -f
