# The SMB Direct part of tools/demo, run inside the test-bed guest (tests/vm/run) by bash:
# ksmbd serves $SMBD_SHARE over soft-RoCE ($SMBD_RDMA_DEVICE). Puts a 256 MiB random file in
# the share, reads it with smbd-cat over SMB Direct plain and signed (each checked against its
# SHA-256 by smbd-cat itself), then with the kernel's cifs client over SMB Direct on the same
# boot. Prints one "demo-guest: ..." line per step; exits non-zero on any failure.
set -uo pipefail
MIB=${DEMO_MIB:-256}
now() { cut -d' ' -f1 /proc/uptime; }
rate() { awk -v a="$1" -v b="$2" -v m="$MIB" 'BEGIN {printf "%.1f s, %.1f MiB/s", b-a, m/(b-a)}'; }
die() { echo "demo-guest: FAILED: $*"; exit 1; }

f=$SMBD_SHARE_PATH/demo.bin
dd if=/dev/urandom of="$f" bs=1M count="$MIB" status=none || die "writing the file"
SUM=$(sha256sum <"$f" | cut -d' ' -f1)
echo "demo-guest: ksmbd on $SMBD_SERVER ($SMBD_RDMA_DEVICE, soft-RoCE), share $SMBD_SHARE, demo.bin ($MIB MiB), SHA-256 $SUM"
export SMBD_PASSWORD
URL="smb://$SMBD_USER@$SMBD_SERVER/$SMBD_SHARE/demo.bin"
for mode in plain signed; do
  extra=()
  [ "$mode" = signed ] && extra=(--sign)
  t=$(now)
  if ! stats=$(smbd-cat --transport rdma --rdma-device "$SMBD_RDMA_DEVICE" -q --stats \
                 --verify-sha256 "$SUM" "${extra[@]}" "$URL" 2>&1 >/dev/null); then
    echo "$stats" | sed 's/^/  /'
    die "smbd-cat $mode"
  fi
  took=$(rate "$t" "$(now)")
  # "smbd-cat: URL over rdma: N bytes read, R of them placed by RDMA in K RDMA reads, I inline; ..."
  # (no /dev/fd in the guest: a here-string, not a process substitution)
  read -r total rdma reads inline <<<"$(sed -nE 's/.* over ([a-z]+): ([0-9]+) bytes read, ([0-9]+) of them placed by RDMA in ([0-9]+) RDMA reads, ([0-9]+) inline.*/\2 \3 \4 \5/p' <<<"$stats")"
  transport=$(sed -nE 's/.* over ([a-z]+): .*/\1/p' <<<"$stats")
  echo "demo-guest: smbd-cat $mode: $took over $transport, SHA-256 equal; of ${total:-?} bytes, ${rdma:-?} placed by RDMA (${reads:-?} RDMA reads), ${inline:-?} inline"
done

mnt=/mnt/demo
mkdir -p "$mnt"
timeout 60 mount.cifs "//$SMBD_SERVER/$SMBD_SHARE" "$mnt" \
  -o "username=$SMBD_USER,password=$SMBD_PASSWORD,vers=3.1.1,rdma" || die "mounting with the kernel client"
echo 3 >/proc/sys/vm/drop_caches
t=$(now)
got=$(timeout 300 dd if="$mnt/demo.bin" bs=4M iflag=direct status=none | sha256sum | cut -d' ' -f1)
took=$(rate "$t" "$(now)")
smbdirect=$(grep -c SMBDirect /proc/fs/cifs/DebugData)
umount "$mnt"
[ "$got" = "$SUM" ] || die "the kernel client read a different SHA-256"
[ "$smbdirect" -gt 0 ] || die "the kernel client's session is not over SMB Direct"
echo "demo-guest: kernel cifs over SMB Direct (dd bs=4M O_DIRECT): $took, SHA-256 equal"
rm -f "$f"
echo "demo-guest: OK"
