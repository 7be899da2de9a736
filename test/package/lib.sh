# Shared by package_test.sh and dpkg_install.sh (sourced): run an installed stmfd and use the
# installed stmfadm against it. The caller defines fail() and clears $pid in its EXIT trap.

# free_port: a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_stmfd SOCKET LOG STMFD ARGS...: starts STMFD ARGS... (output to LOG) in the background
# ($pid), then waits until SOCKET (its management socket) exists; fails when it exits first.
start_stmfd() {
  local sock=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    [ -S "$sock" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "stmfd exited"
    sleep 0.1
  done
  fail "no management socket $sock"
}

# stop_stmfd: SIGTERM to $pid; it must exit 0.
stop_stmfd() {
  local rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" -eq 0 ] || fail "stmfd exited $rc after SIGTERM"
}

# lu_round_trip STMFADM BACKING: list-lu on the empty daemon prints nothing; create-lu BACKING;
# list-lu shows it.
lu_round_trip() {
  local stmfadm=$1 backing=$2 listed
  listed=$("$stmfadm" list-lu) || fail "stmfadm list-lu"
  [ -z "$listed" ] || fail "list-lu of an empty daemon printed: $listed"
  "$stmfadm" create-lu -s 16MiB "$backing" || fail "stmfadm create-lu"
  listed=$("$stmfadm" list-lu) || fail "stmfadm list-lu after create-lu"
  [[ "$listed" == *"LU Name"* ]] || fail "list-lu after create-lu: $listed"
  echo "$listed"
}
