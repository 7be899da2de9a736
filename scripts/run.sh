#!/usr/bin/env bash
# Quick start: install what is missing, build stmfd (only it), and run it with the embedded
# default configuration: one 1 GiB sparse-file LU on 127.0.0.1:3260.
#
# The configuration persists in the state directory, $STMFD_STATE_DIR (default
# /var/tmp/stmfd-state, or --state-dir DIR): later runs start from it, with every change
# made by stmfadm since. Ctrl-C stops stmfd gracefully (sessions are logged out); a second
# Ctrl-C stops it at once. Arguments are passed to stmfd.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh stmfd
state=${STMFD_STATE_DIR:-/var/tmp/stmfd-state}
config=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --state-dir) state=${args[i + 1]:-$state} ;;
    --state-dir=*) state=${args[i]#--state-dir=} ;;
    -c|--config) config=${args[i + 1]:-} ;;
    --config=*) config=${args[i]#--config=} ;;
  esac
done
if [[ " $* " != *" --state-dir"* ]]; then
  set -- --state-dir "$state" "$@"
fi
# Where things live, from the embedded default configuration (what a new state starts from).
lu=$(build/tools/stmfd --print-default-config | sed -n 's/.*"backing": *"\([^"]*\)".*/\1/p' | head -1)
[ -n "$config" ] && lu=""  # the LUs are the configuration file's
cat <<MSG
stmfd: state (configuration database) in $state/
       LU backing file: ${lu:-as configured in ${config:-the default (--print-default-config)}}
       Ctrl-C stops it gracefully, a second Ctrl-C at once.
       To start over from the default configuration: stop it, then
         rm -rf $state ${lu}
MSG
if [ -f "$state/stmf.db" ]; then
  echo "       (this run starts from the saved state in $state, not from the default)"
fi
exec build/tools/stmfd "$@"
