# test: rping
# rping loopback over rxe0: server and client on the guest-only veth address, 10 pings verified.
. "$TESTLIB"
port=7174 count=10
rping -s -a "$SMBD_SERVER" -p $port -C $count >/tmp/rping-server.log 2>&1 &
srv=$!
for i in $(seq 1 100); do
  rdma resource show cm_id 2>/dev/null | grep -q "state LISTEN.*:$port " && break
  sleep 0.2
done
timeout 120 rping -c -a "$SMBD_SERVER" -p $port -C $count -v >/tmp/rping-client.log 2>&1
rc=$?
for i in $(seq 1 50); do kill -0 $srv 2>/dev/null || break; sleep 0.2; done
kill $srv 2>/dev/null
n=$(grep -c 'ping data: rdma-ping-' /tmp/rping-client.log)
info "client exit $rc, $n of $count pings verified"
if [ $rc -eq 0 ] && [ "$n" -eq $count ]; then
  pass rping
else
  sed 's/^/  client: /' /tmp/rping-client.log | tail -5; sed 's/^/  server: /' /tmp/rping-server.log | tail -5
  fail rping
fi
