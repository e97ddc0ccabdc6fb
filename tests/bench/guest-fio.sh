# Runs inside the RDMA test-bed guest (tests/bench/fio-side-by-side): the same fio jobs through
# our external engine (SMB Direct and TCP) and on the kernel cifs client's mounts (rdma and
# tcp, O_DIRECT with libaio), against ksmbd on soft-RoCE, in one boot.
set -uo pipefail
MIB=${BENCH_MIB:-64}
SECS=${BENCH_SECONDS:-10}
dd if=/dev/urandom of="$SMBD_SHARE_PATH/fio.bin" bs=1M count="$MIB" status=none
URL="smb://$SMBD_USER@$SMBD_SERVER/$SMBD_SHARE"
export SMBD_PASSWORD
# job NAME FIO-ARGS...: one line, read MiB/s and IOPS (terse v3 fields 7 and 8).
job() {
  fio --output-format=terse --terse-version=3 --name="$1" "${@:2}" 2>/tmp/fio.err |
    awk -F';' '{printf "%-30s %9.1f MiB/s %9.0f IOPS\n", $3, $7 / 1024, $8}'
  [ "${PIPESTATUS[0]}" = 0 ] || sed 's/^/  fio: /' /tmp/fio.err | head -5
}
jobs() {  # jobs PREFIX FIO-ARGS...: sequential 1 MiB and random 4 KiB reads
  job "$1-seq-1m-qd16" "${@:2}" --rw=read --bs=1M --iodepth=16 --size="${MIB}M"
  job "$1-rand-4k-qd1" "${@:2}" --rw=randread --bs=4k --iodepth=1 --size="${MIB}M" \
    --runtime="$SECS" --time_based
  job "$1-rand-4k-qd16" "${@:2}" --rw=randread --bs=4k --iodepth=16 --size="${MIB}M" \
    --runtime="$SECS" --time_based
}
echo "fio 3.33 reads of a ${MIB} MiB file on ksmbd ($SMBD_RDMA_DEVICE); random jobs ${SECS} s"
for t in rdma tcp; do
  jobs "smbd-engine-$t" --ioengine=external:/bundle/libfio_smbd.so --smbd_url="$URL" \
    --smbd_transport="$t" --smbd_rdma_device="$SMBD_RDMA_DEVICE" --filename=fio.bin
done
mkdir -p /mnt/fio
for t in rdma tcp; do
  opt="username=$SMBD_USER,password=$SMBD_PASSWORD,vers=3.1.1,cache=none"
  [ "$t" = rdma ] && opt="$opt,rdma"
  if ! timeout 60 mount.cifs "//$SMBD_SERVER/$SMBD_SHARE" /mnt/fio -o "$opt"; then
    echo "kernel-cifs-$t: mount failed"
    continue
  fi
  jobs "kernel-cifs-$t" --ioengine=libaio --direct=1 --filename=/mnt/fio/fio.bin
  umount /mnt/fio
done
rm -f "$SMBD_SHARE_PATH/fio.bin"
