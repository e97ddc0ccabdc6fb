# test: cifs_tcp_rw
# The same as cifs_rdma_rw over TCP (port 445): 64 MiB written with dd and read back, equal sha256.
. "$TESTLIB"
if cifs_rw cifs_tcp_rw 64 ""; then
  if grep -q 'SMBDirect' <<<"$CIFS_DEBUGDATA"; then
    fail "cifs_tcp_rw (the session is over SMB Direct, expected TCP)"
  else
    pass cifs_tcp_rw
  fi
fi
