# Shared helpers of the RDMA test-bed scripts (sourced by build, run, run-suite, bench).
# shellcheck shell=bash

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# Cache outside the git tree: /var/cache/smbd-testbed as root, ~/.cache/smbd-testbed otherwise.
if [ -n "${SMBD_TESTBED_CACHE:-}" ]; then
  CACHE=$SMBD_TESTBED_CACHE
elif [ "$(id -u)" = 0 ]; then
  CACHE=/var/cache/smbd-testbed
else
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/smbd-testbed
fi
DEBS=$CACHE/debs
# The guest-only network (never leaves the guest: QEMU runs with -nic none).
GUEST_ADDR=10.254.77.1

say() { echo "[${VM_TOOL:-vm}] $*" >&2; }
die() { echo "[${VM_TOOL:-vm}] ERROR: $*" >&2; exit "${DIE_RC:-1}"; }

# now_s: seconds since the epoch with millisecond precision.
now_s() { date +%s.%3N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN{printf "%.1f", b-a}'; }

# is_elf FILE: true for an ELF file.
is_elf() { [ -f "$1" ] && [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# elf_libs FILE...: prints (sorted, unique) every shared library the ELF files need, as ldd
# resolves them on this host, including the program interpreter. Fails on "not found".
elf_libs() {
  local f out rc=0
  for f in "$@"; do
    is_elf "$f" || continue
    out=$(LC_ALL=C ldd "$f" 2>/dev/null) || continue   # "not a dynamic executable"
    if grep -q 'not found' <<<"$out"; then
      echo "[${VM_TOOL:-vm}] ERROR: $f needs libraries missing on this host:" >&2
      grep 'not found' <<<"$out" >&2
      rc=1
    fi
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"
  done | sort -u
  return $rc
}

# accel_args: QEMU accelerator arguments. KVM only where the CPU shows vmx/svm (a PVM
# hypervisor exposes /dev/kvm without them, and a stock kernel hangs there); otherwise TCG.
accel_args() {
  if [ -z "${SMBD_VM_FORCE_TCG:-}" ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
    echo "-accel kvm -cpu host"
  else
    echo "-accel tcg,thread=multi,tb-size=512 -cpu max"
  fi
}
uses_kvm() { [[ $(accel_args) == *kvm* ]]; }
