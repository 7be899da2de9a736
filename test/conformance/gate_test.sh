#!/usr/bin/env bash
# Proves the conformance gate (runner.py) can fail: each case points it at something that
# must make a pass fail, and checks that the runner reports FAILURE, for the right reason.
#
#   gate_test.sh STMFD CASE
#     refused-login   the target answers, but refuses the login (no such target IQN)
#     no-view         the target exists, but shows the LU to another initiator only
#     no-listener     nothing listens at the URL
#     hidden-test     a pass run with a family filter that leaves out the tests it requires
#     required-skip   a pass whose required test skips (ReadOnly on a writable LU)
#     unlisted-skip   a pass that meets a skip its list does not name
#     holds           the control: the same pass, as configured, holds
set -euo pipefail
stmfd=${1:?stmfd binary}; case_=${2:?case}
here=$(cd "$(dirname "$0")" && pwd)
runner=("python3" "$here/runner.py")
# shellcheck source=../integration/stmfd.sh
source "$here/../integration/stmfd.sh"
stmfd_setup stmf-gate
iqn=iqn.2026-11.org.example:gate

# serve CONFIG_JSON: stmfd on $port with that configuration.
serve() { stmfd_serve "$stmfd" "$1"; }
# expect_failure WHY ARGS...: the runner must exit 1 and say WHY (an extended regex).
expect_failure() {
  local why=$1 rc=0; shift
  "${runner[@]}" "$@" >"$work/out" 2>&1 || rc=$?
  cat "$work/out"
  [ "$rc" = 1 ] || { echo "GATE TEST FAILED: the runner exited $rc, not 1"; exit 1; }
  grep -q '^FAILURE' "$work/out" || { echo "GATE TEST FAILED: no FAILURE reported"; exit 1; }
  grep -Eq "$why" "$work/out" || { echo "GATE TEST FAILED: the failure does not say: $why"; exit 1; }
  echo "gate test $case_: the gate failed, as it must"
}

case "$case_" in
  refused-login)
    serve "{\"portals\": [\"127.0.0.1:$port\"], \"targets\": [{\"iqn\": \"$iqn\", \"luns\": [{\"lun\": 0, \"store\": \"ram\", \"size\": \"16MiB\"}]}]}"
    expect_failure "no test ran" --pass conformance_readonly --url "iscsi://127.0.0.1:$port/$iqn.nosuchtarget/0" ;;
  no-view)
    guid=600144F0000000000000000000006A7E
    serve "{\"portals\": [\"127.0.0.1:$port\"], \"targets\": [{\"iqn\": \"$iqn\"}],
            \"lus\": [{\"guid\": \"$guid\", \"store\": \"ram\", \"size\": \"16MiB\"}],
            \"host_groups\": [{\"name\": \"others\", \"members\": [\"iqn.2026-11.org.example:someone-else\"]}],
            \"views\": [{\"guid\": \"$guid\", \"host_group\": \"others\", \"lun\": 0}]}"
    expect_failure "no test ran" --pass conformance_readonly --url "iscsi://127.0.0.1:$port/$iqn/0" ;;
  no-listener)
    expect_failure "nothing listens" --pass conformance_readonly --url "iscsi://127.0.0.1:$port/$iqn/0" ;;
  hidden-test)
    expect_failure "REQUIRED ReadOnly\.\*: the families run by this pass do not include it" \
      --pass conformance_readonly --stmfd "$stmfd" --test ALL.TestUnitReady ;;
  required-skip)
    expect_failure "REQUIRED ReadOnly\.ReadOnlySBC: skip" --pass conformance_readonly --stmfd "$stmfd" --lu '{"write_protect": false}' ;;
  unlisted-skip)
    expect_failure "UNLISTED SKIP StartStopUnit\.Simple" --pass conformance_readonly --stmfd "$stmfd" --test ALL.ReadOnly,ALL.StartStopUnit ;;
  holds)
    "${runner[@]}" --pass conformance_readonly --stmfd "$stmfd" ;;
  *) echo "unknown case $case_"; exit 2 ;;
esac
