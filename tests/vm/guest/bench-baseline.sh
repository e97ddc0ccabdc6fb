#!/bin/bash
# Runs inside the guest (tests/vm/bench-baseline): kernel cifs over SMB Direct and TCP with dd,
# then perftest on the RDMA device ($SMBD_RDMA_DEVICE: rxe0 or siw0). Prints a table at the end.
export LC_ALL=C
MIB=${BENCH_MIB:-128}
ROWS=()
row() { ROWS+=("$(printf '%-44s %10s %9s' "$1" "$2" "$3")"); }

# dd_rate ARGS...: runs dd, prints "MiB/s seconds" from its summary line.
dd_rate() {
  local out
  out=$(timeout 900 dd "$@" 2>&1 >/dev/null | tail -1) || { echo "FAILED -"; return; }
  awk '{b=$1; for (i=1;i<=NF;i++) if ($(i+1) ~ /^s,?$/) s=$i; printf "%.1f %.2f", b/1048576/s, s}' <<<"$out"
}

dd if=/dev/urandom of=/tmp/src bs=4M count=$((MIB / 4)) status=none
for mode in rdma tcp; do
  mnt=/mnt/$mode
  mkdir -p "$mnt"
  opts="username=$SMBD_USER,password=$SMBD_PASSWORD,vers=3.1.1"
  [ $mode = rdma ] && opts="$opts,rdma"
  if ! timeout 60 mount.cifs "//$SMBD_SERVER/$SMBD_SHARE" "$mnt" -o "$opts"; then
    row "cifs $mode: mount FAILED" - -; continue
  fi
  if [ $mode = rdma ] && ! grep -q SMBDirect /proc/fs/cifs/DebugData; then
    row "cifs rdma: NOT an SMB Direct session" - -
  fi
  for direct in "" direct; do
    label=$([ -n "$direct" ] && echo "O_DIRECT" || echo "buffered")
    rm -f "$mnt/f"
    sync; echo 3 >/proc/sys/vm/drop_caches
    if [ -n "$direct" ]; then r=$(dd_rate if=/tmp/src of="$mnt/f" bs=4M oflag=direct)
    else r=$(dd_rate if=/tmp/src of="$mnt/f" bs=4M conv=fsync); fi
    row "cifs $mode write ${MIB} MiB bs=4M $label" $r
    sync; echo 3 >/proc/sys/vm/drop_caches
    if [ -n "$direct" ]; then r=$(dd_rate if="$mnt/f" of=/dev/null bs=4M iflag=direct)
    else r=$(dd_rate if="$mnt/f" of=/dev/null bs=4M); fi
    row "cifs $mode read  ${MIB} MiB bs=4M $label" $r
  done
  rm -f "$mnt/f"
  umount "$mnt"
done
rm -f /tmp/src

# perftest between two processes on $SMBD_RDMA_DEVICE (rdma_cm connection setup).
maxmsg=$(ibv_devinfo -v -d "$SMBD_RDMA_DEVICE" | awk '/max_msg_sz/ {print $2; exit}')
maxmsg=$((maxmsg))
# rxe reports 8 MiB; siw reports 0xffffffff. Capped at 8 MiB so that the rows of both
# providers are alike and the buffers fit the guest's memory.
{ [ "$maxmsg" -gt 0 ] && [ "$maxmsg" -le $((8 << 20)) ]; } || maxmsg=$((8 << 20))
for tool in ib_write_bw ib_read_bw; do
  for size in 65536 "$maxmsg"; do
    iters=$(( (MIB << 20) / size )); [ $iters -ge 5 ] || iters=5
    args=(-d "$SMBD_RDMA_DEVICE" -R -F --report_gbits -s "$size" -n "$iters" -p 18515)
    timeout 600 "$tool" "${args[@]}" >/tmp/perf-server.log 2>&1 &
    srv=$!
    sleep 1
    for i in $(seq 1 5); do   # the server may not listen yet
      timeout 600 "$tool" "${args[@]}" "$SMBD_SERVER" >/tmp/perf-client.log 2>&1 && break
      sleep 1
    done
    wait $srv
    gbps=$(awk -v s="$size" '$1 == s {print $4; exit}' /tmp/perf-client.log)
    if [ -n "$gbps" ]; then
      row "$tool $SMBD_RDMA_DEVICE $((size / 1024)) KiB x $iters" "$(awk -v g="$gbps" 'BEGIN {printf "%.1f", g*1e9/8/1048576}')" "${gbps}Gb/s"
    else
      row "$tool $SMBD_RDMA_DEVICE $((size / 1024)) KiB: FAILED" - -
      tail -5 /tmp/perf-client.log
    fi
  done
done

echo
printf '%-44s %10s %9s\n' "test (kernel cifs: dd; perftest: rdma_cm)" "MiB/s" "s | Gb/s"
printf '%s\n' "${ROWS[@]}"
