# test: cifs_rdma_seal_read
# The kernel cifs client mounts ksmbd's share over SMB Direct with encryption (rdma,seal) and
# reads a 1 MiB file back with equal sha256: the reference that the test bed's ksmbd patch
# (tests/vm/build, smb_direct_writev) fixed the server. Unpatched ksmbd drops every encrypted
# answer's transform header over SMB Direct, and this mount fails ("SMB response too long",
# issue #16). Reads only: the 6.1 kernel client's own sealed SMB Direct writes are broken (a 2 MiB
# WRITE sent inline above the server's MaxFragmentedSize, -EINVAL, then a kernel BUG at unmount
# that panics the guest; with wsize=65536 the writer hangs), so it writes nothing here.
. "$TESTLIB"
mnt=/mnt/cifs_rdma_seal
mkdir -p "$mnt"
dd if=/dev/urandom of="$SMBD_SHARE_PATH/seal-ref.bin" bs=64K count=16 status=none
want=$(sha256sum <"$SMBD_SHARE_PATH/seal-ref.bin" | cut -d' ' -f1)
if ! timeout 60 mount.cifs "//$SMBD_SERVER/$SMBD_SHARE" "$mnt" \
     -o "username=$SMBD_USER,password=$SMBD_PASSWORD,vers=3.1.1,rdma,seal,rsize=65536"; then
  dmesg | tail -10; fail "cifs_rdma_seal_read (mount)"; exit 0
fi
got=$(timeout 120 dd if="$mnt/seal-ref.bin" bs=64K iflag=direct status=none | sha256sum | cut -d' ' -f1)
debug=$(cat /proc/fs/cifs/DebugData)
timeout 60 umount "$mnt" || umount -l "$mnt"
rm -f "$SMBD_SHARE_PATH/seal-ref.bin"
if [ "$got" != "$want" ]; then
  dmesg | tail -10; fail "cifs_rdma_seal_read (read-back sha256 differs)"
# 6.1 marks the session "Encrypted", 6.12 each share "encrypted".
elif ! grep -q 'SMBDirect' <<<"$debug" || ! grep -qiw 'encrypted' <<<"$debug"; then
  echo "$debug" | sed 's/^/  DebugData: /'; fail "cifs_rdma_seal_read (not an encrypted SMB Direct session)"
else
  grep -iE 'SMBDirect|encrypt' <<<"$debug" | head -3 | sed 's/^/  DebugData: /'
  pass cifs_rdma_seal_read
fi
