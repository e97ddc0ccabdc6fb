#!/bin/bash
# Runs inside the RDMA test-bed guest (tests/bench/rdma-side-by-side): our client (smbd-cat for
# reads, smbd-bench for writes) over SMB Direct and over TCP, then the kernel cifs client and
# perftest (tests/vm/guest/bench-baseline.sh), all against ksmbd on
# $SMBD_RDMA_DEVICE (rxe0 or siw0) in one boot.
export LC_ALL=C
MIB=${BENCH_MIB:-128}
REPS=${BENCH_REPS:-3}
URL="smb://$SMBD_USER@$SMBD_SERVER/$SMBD_SHARE"
export SMBD_PASSWORD
dd if=/dev/urandom of="$SMBD_SHARE_PATH/ours.bin" bs=4M count=$((MIB / 4)) status=none
dd if=/dev/urandom of="$SMBD_SHARE_PATH/small.bin" bs=4096 count=1 status=none
sync
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() { awk -v m="$MIB" -v s="$1" 'BEGIN {printf "%.1f", m/s}'; }
echo "kernel $(uname -r), $SMBD_RDMA_DEVICE, SMB Direct port $SMBD_PORT"
echo "our client, $MIB MiB, median of $REPS (guest clock; TCG)"
for t in rdma tcp; do
  for i in $(seq "$REPS"); do
    s=$EPOCHREALTIME
    /bundle/smbd-cat -q --transport "$t" ${BENCH_CAT_ARGS:-} "$URL/ours.bin" >/dev/null || echo "smbd-cat $t FAILED" >&2
    e=$EPOCHREALTIME
    awk -v s="$s" -v e="$e" 'BEGIN {print e-s}'
  done | median >/tmp/r
  printf '%-44s %10s %9s\n' "smbd-cat $t read ${MIB} MiB" "$(rate "$(cat /tmp/r)")" "$(cat /tmp/r)"
  for i in $(seq "$REPS"); do
    /bundle/smbd-bench --json --transport "$t" --mode seqwrite --bs ${BENCH_WBS:-1M} --depth 8 --size "${MIB}M" \
      "$URL/ours-w.bin" | sed -E 's/.*"seconds":([0-9.]+).*/\1/'
  done | median >/tmp/w
  printf '%-44s %10s %9s\n' "smbd-bench $t write ${MIB} MiB bs=1M depth 8" "$(rate "$(cat /tmp/w)")" "$(cat /tmp/w)"
done
# Transfer only (connect and login not timed, as dd on a mounted share): seqread through
# ReadAsync, RDMA placement over SMB Direct.
for t in rdma tcp; do
  for bd in "1M 16" "4M 4"; do
    set -- $bd
    for i in $(seq "$REPS"); do
      /bundle/smbd-bench --json --transport "$t" --mode seqread --bs "$1" --depth "$2" \
        --size "${MIB}M" "$URL/ours.bin" | sed -E 's/.*"seconds":([0-9.]+).*/\1/'
    done | median >/tmp/s
    printf '%-44s %10s %9s\n' "smbd-bench $t seqread ${MIB} MiB bs=$1 depth $2" \
      "$(rate "$(cat /tmp/s)")" "$(cat /tmp/s)"
  done
done
[ -n "${BENCH_QUICK:-}" ] && exit 0
echo
echo "small I/O over SMB Direct and TCP (smbd-bench, 5 s each; latency in microseconds)"
for t in rdma tcp; do
  for args in "--mode randread --bs 4K --depth 1" "--mode randread --bs 4K --depth 8" \
              "--mode randread --bs 4K --depth 32" "--mode meta"; do
    /bundle/smbd-bench --transport "$t" $args --seconds 5 "$URL/ours.bin" | sed "s/^/$t /"
  done
  # Open + read 4 KiB + close: one compound round trip vs three.
  for m in smallfile smallfile3; do
    /bundle/smbd-bench --transport "$t" --mode "$m" --seconds 5 "$URL/small.bin" | sed "s/^/$t /"
  done
  [ "$t" = rdma ] && /bundle/smbd-bench --transport rdma --busy-poll --mode randread --bs 4K \
    --depth 1 --seconds 5 "$URL/ours.bin" | sed "s/^/rdma busy-poll /"
done
rm -f "$SMBD_SHARE_PATH/ours.bin" "$SMBD_SHARE_PATH/ours-w.bin" "$SMBD_SHARE_PATH/small.bin"
echo
bash /bundle/bench-baseline.sh
