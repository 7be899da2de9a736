# Sourced by the shell tests that run a stmfd of their own (test/integration/qemu_convert.sh,
# test/conformance/gate_test.sh, test/management/stmfadm/completion_test.sh).
#   stmfd_setup PREFIX          sets $work (a new directory /tmp/PREFIX-XXXXXX), $port (a free
#                               loopback port) and $pid (""); on exit the daemon is stopped
#                               and $work removed
#   stmfd_serve STMFD CONFIG    starts STMFD with the configuration CONFIG (JSON text) and the
#                               management socket $work/stmfd.sock (log: $work/stmfd.log);
#                               returns once 127.0.0.1:$port accepts, else fails the test
#   stmfd_serve_lun STMFD IQN SIZE   stmfd_serve with one target IQN, LUN 0 on $work/lu0.img
stmfd_setup() {
  work=$(mktemp -d "/tmp/$1-XXXXXX")
  pid=""
  trap stmfd_cleanup EXIT
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}

stmfd_cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; fi
  rm -rf "$work"
}

stmfd_serve() {
  printf '%s\n' "$2" >"$work/config.json"
  "$1" --config "$work/config.json" --socket "$work/stmfd.sock" >"$work/stmfd.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "stmfd did not listen:"; cat "$work/stmfd.log"; exit 1
}

stmfd_serve_lun() {
  stmfd_serve "$1" "{\"portals\": [\"127.0.0.1:$port\"],
    \"targets\": [{\"iqn\": \"$2\", \"luns\": [{\"lun\": 0, \"backing\": \"$work/lu0.img\", \"size\": \"$3\"}]}]}"
}
