# test: ibv_devices
# ibv_devices lists the soft-RoCE device rxe0 and its port is active.
. "$TESTLIB"
out=$(timeout 30 ibv_devices 2>&1)
echo "$out" | sed 's/^/  /'
if grep -qw "$SMBD_RDMA_DEVICE" <<<"$out" &&
   timeout 30 ibv_devinfo -d "$SMBD_RDMA_DEVICE" | grep -q 'state:.*PORT_ACTIVE'; then
  pass ibv_devices
else
  fail ibv_devices
fi
