# Helpers for the scripts in tests/vm/guest-tests/ (sourced inside the guest: . "$TESTLIB").
# shellcheck shell=bash
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILED=1; }
skip() { echo "SKIP $*"; }
info() { echo "  $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# cifs_rw NAME MIB EXTRA_MOUNT_OPTIONS: mounts the ksmbd share with the kernel cifs client,
# writes a MIB MiB random file with dd, checks its sha256 on the server side (the share's tmpfs)
# and read back through the mount (O_DIRECT, after dropping caches). Prints one PASS/FAIL line.
cifs_rw() {
  local name=$1 mib=$2 extra=$3 mnt=/mnt/$1 f=$1.bin want got t
  mkdir -p "$mnt"
  if ! timeout 60 mount.cifs "//$SMBD_SERVER/$SMBD_SHARE" "$mnt" \
       -o "username=$SMBD_USER,password=$SMBD_PASSWORD,vers=3.1.1${extra:+,$extra}"; then
    dmesg | tail -20; fail "$name (mount)"; return 1
  fi
  dd if=/dev/urandom of="/tmp/$f" bs=4M count=$((mib / 4)) status=none
  want=$(sha256sum <"/tmp/$f" | cut -d' ' -f1)
  t=$(uptime_s)
  if ! timeout 300 dd if="/tmp/$f" of="$mnt/$f" bs=4M conv=fsync status=none; then
    dmesg | tail -20; umount -f "$mnt"; fail "$name (write)"; return 1
  fi
  info "write ${mib} MiB: $(awk -v a="$t" -v b="$(uptime_s)" -v m="$mib" 'BEGIN {printf "%.1fs, %.1f MiB/s", b-a, m/(b-a)}')"
  got=$(sha256sum <"$SMBD_SHARE_PATH/$f" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { umount "$mnt"; fail "$name (server-side sha256 differs)"; return 1; }
  echo 3 >/proc/sys/vm/drop_caches
  t=$(uptime_s)
  got=$(timeout 300 dd if="$mnt/$f" bs=4M iflag=direct status=none | sha256sum | cut -d' ' -f1)
  info "read ${mib} MiB: $(awk -v a="$t" -v b="$(uptime_s)" -v m="$mib" 'BEGIN {printf "%.1fs, %.1f MiB/s", b-a, m/(b-a)}')"
  CIFS_DEBUGDATA=$(cat /proc/fs/cifs/DebugData)
  umount "$mnt"
  rm -f "/tmp/$f" "$SMBD_SHARE_PATH/$f"
  [ "$got" = "$want" ] || { fail "$name (read-back sha256 differs)"; return 1; }
  return 0
}
