# test: cifs_rdma_rw
# The kernel cifs client mounts ksmbd's share over SMB Direct (mount option rdma), writes a 64 MiB
# file with dd and reads it back with equal sha256; DebugData must show an SMBDirect session.
. "$TESTLIB"
before=$(rdma statistic show link "$SMBD_RDMA_DEVICE/1" 2>/dev/null)
if cifs_rw cifs_rdma_rw 64 rdma; then
  if grep -q 'SMBDirect' <<<"$CIFS_DEBUGDATA"; then
    grep -E 'SMBDirect|Conn ' <<<"$CIFS_DEBUGDATA" | sed 's/^/  DebugData: /'
    after=$(rdma statistic show link "$SMBD_RDMA_DEVICE/1" 2>/dev/null)
    [ -n "$after" ] && info "rxe0 counters before: ${before#link }" && info "rxe0 counters after:  ${after#link }"
    pass cifs_rdma_rw
  else
    echo "$CIFS_DEBUGDATA" | sed 's/^/  DebugData: /'
    fail "cifs_rdma_rw (the session is not over SMB Direct)"
  fi
fi
