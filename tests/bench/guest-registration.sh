#!/bin/bash
# Runs inside the RDMA test-bed guest (tests/bench/registration-side-by-side), against ksmbd on
# rxe0 in one boot: what an RDMA-channel I/O's registration costs (issue #15). Per request size,
# one read at a time (depth 1), p50 latency in microseconds, for
#   default  the library's defaults (on rxe: per-I/O registration from 64 KiB, inline below)
#   per-io   ibv_reg_mr + ibv_dereg_mr of exactly the I/O, at every size
#   windows  a memory-window bind over a buffer registered once (--register-buffers), ksmbd
#            invalidating it with its answer (forced: rxe's windows do not isolate)
#   inline   no RDMA channel: the data in SMB Direct messages (sizes that fit a message chain)
#   tcp      Direct TCP
# then 4 KiB random-read IOPS at depth 1, 8 and 32 for each, the kernel client's 4 KiB O_DIRECT
# reads (dd, depth 1) on a cifs rdma mount and a plain one, then tests/vm/guest/bench-baseline.sh
# (the kernel client at 4 MiB, ib_write_bw / ib_read_bw). cpuGiB: CPU seconds per GiB moved.
export LC_ALL=C
SECS=${BENCH_SECONDS:-3}
URL="smb://$SMBD_USER@$SMBD_SERVER/$SMBD_SHARE"
export SMBD_PASSWORD
dd if=/dev/urandom of="$SMBD_SHARE_PATH/reg.bin" bs=4M count=16 status=none
sync
B=/bundle/smbd-bench
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }
run() {  # LABEL BS DEPTH ARGS...: one line "LABEL bs depth p50 iops MBps cpu_s_per_GiB"
  local label=$1 bs=$2 depth=$3; shift 3
  local mode=randread
  case $bs in *M) mode=seqread ;; esac
  local j
  j=$("$B" --json --mode "$mode" --bs "$bs" --depth "$depth" --seconds "$SECS" --size 64M "$@" \
        "$URL/reg.bin" 2>/dev/null) || { printf '%-8s %5s %3s FAILED\n' "$label" "$bs" "$depth"; return; }
  printf '%-8s %5s %3s %10s %10s %9s %8s  binds %s regs %s\n' "$label" "$bs" "$depth" \
    "$(field lat_us_p50 <<<"$j")" "$(field iops <<<"$j")" "$(field MBps <<<"$j")" \
    "$(field cpu_s_per_GiB <<<"$j")" "$(field window_binds <<<"$j" | grep -E '^[0-9]+$' || echo -)" \
    "$(field registrations <<<"$j" | grep -E '^[0-9]+$' || echo -)"
}
echo "mode        bs dep    p50(us)       IOPS      MB/s  cpuGiB"
for bs in ${BENCH_SIZES:-4K 64K 1M 4M 8M}; do
  run default "$bs" 1 --transport rdma
  run per-io "$bs" 1 --transport rdma --registration per-io --rdma-threshold 4K
  run windows "$bs" 1 --transport rdma --registration windows --register-buffers --rdma-threshold 4K
  case $bs in *K) run inline "$bs" 1 --transport rdma --rdma-threshold 1G ;; esac
  run tcp "$bs" 1 --transport tcp
done
[ -n "${BENCH_QUICK:-}" ] && { rm -f "$SMBD_SHARE_PATH/reg.bin"; exit 0; }
echo
echo "4 KiB random reads by depth"
for d in 1 8 32; do
  run default 4K "$d" --transport rdma
  run per-io 4K "$d" --transport rdma --registration per-io --rdma-threshold 4K
  run windows 4K "$d" --transport rdma --registration windows --register-buffers --rdma-threshold 4K
  run inline 4K "$d" --transport rdma --rdma-threshold 1G
  run tcp 4K "$d" --transport tcp
done
echo
echo "the kernel client: 4 KiB O_DIRECT reads, depth 1 (dd, 16 MiB)"
for mode in rdma tcp; do
  mnt=/mnt/reg-$mode
  mkdir -p "$mnt"
  opts="username=$SMBD_USER,password=$SMBD_PASSWORD,vers=3.1.1"
  [ $mode = rdma ] && opts="$opts,rdma"
  if ! timeout 60 mount.cifs "//$SMBD_SERVER/$SMBD_SHARE" "$mnt" -o "$opts"; then
    echo "cifs $mode: mount FAILED"; continue
  fi
  out=$(timeout 300 dd if="$mnt/reg.bin" of=/dev/null bs=4K count=4096 iflag=direct 2>&1 | tail -1)
  awk -v m="cifs-$mode" '{for (i=1;i<=NF;i++) if ($(i+1) ~ /^s,?$/) s=$i; printf "%-8s    4K   1 %10.0f %10.0f\n", m, s/4096*1e6, 4096/s}' <<<"$out"
  umount "$mnt"
done
rm -f "$SMBD_SHARE_PATH/reg.bin"
echo
echo "the kernel client at 4 MiB and perftest on rxe0, same boot (64 MiB)"
BENCH_MIB=64 bash /bundle/bench-baseline.sh
