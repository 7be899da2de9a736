#!/usr/bin/env bash
# stmfadm's bash completion (tools/stmfadm/stmfadm.bash): sourced in a plain bash, asked to
# complete words through COMP_WORDS/COMP_CWORD as bash would, against a real stmfd (LU GUIDs
# and names, targets, host groups from the daemon) and against none.
#   completion_test.sh STMFD STMFADM COMPLETION_SCRIPT
set -euo pipefail
stmfd=${1:?stmfd binary}
stmfadm=${2:?stmfadm binary}
completion=${3:?completion script}
# shellcheck source=../../integration/stmfd.sh
source "$(dirname "$0")/../../integration/stmfd.sh"
stmfd_setup stmf-completion
iqn=iqn.2026-11.org.example:completion
stmfd_serve_lun "$stmfd" "$iqn" 16MiB
sock=$work/stmfd.sock
mkdir "$work/bin"
ln -s "$(realpath "$stmfadm")" "$work/bin/stmfadm"
export PATH="$work/bin:$PATH" STMFD_SOCKET=$sock
adm() { stmfadm "$@" >/dev/null; }
guid=$(stmfadm create-lu --name web01 -s 16m "$work/web01.img" | sed -n 's/^Logical unit created: //p')
adm create-hg oracle-rac
adm create-tg tg-east

failures=0
# completions WORD... : the completions of the last word (one per line, sorted), as bash would
# offer them after "stmfadm WORD...".
completions() {
  bash --norc --noprofile -c '
    source "$1"; shift
    COMP_WORDS=(stmfadm "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
    _stmfadm
    [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@" | sort
}
# expect "WORDS" WANTED... : each WANTED is among the completions of WORDS
expect() {
  local words=$1; shift
  local got
  read -r -a argv <<<"$words"
  [[ -z $words || $words == *" " ]] && argv+=("")
  got=$(completions "${argv[@]}")
  for w in "$@"; do
    if ! grep -qxF -- "$w" <<<"$got"; then
      echo "FAIL: 'stmfadm $words<TAB>' does not offer '$w'; it offers: $(tr '\n' ' ' <<<"$got")"
      failures=$((failures + 1))
    fi
  done
}
# exactly "WORDS" WANTED... : the completions are exactly these
exactly() {
  local words=$1; shift
  local got want
  read -r -a argv <<<"$words"
  [[ -z $words || $words == *" " ]] && argv+=("")
  got=$(completions "${argv[@]}")
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
  if [ "$got" != "$want" ]; then
    echo "FAIL: 'stmfadm $words<TAB>' offers '$(tr '\n' ' ' <<<"$got")', wanted '$*'"
    failures=$((failures + 1))
  fi
}

exactly "cre" create-hg create-initiator create-lu create-portal create-target create-tg
exactly "list-a" list-alua-state
expect "" create-lu list-lu add-view set-alua-state arsctl acct
expect "--" --json --socket --help --version
expect "create-lu --" --name --lu-prop --size --json --socket --help
expect "create-lu -" -p -s --name
expect "modify-target -" -a --alias --auth-method --no-chap --json
expect "remove-view -" -l --lu-name -a --all
exactly "create-lu -p w" wcd= wp=
exactly "modify-lu -p a" alias=
exactly "modify-target --auth-method " default none chap
exactly "set-alua-state e" enable
exactly "arsctl g" get
expect "arsctl get " machid allocash
# From the daemon: LU GUIDs and names, targets, groups.
expect "list-lu " "$guid" web01
exactly "delete-lu we" web01
exactly "add-view -n 0 w" web01
exactly "list-view -l web" web01
exactly "offline-lu ${guid:0:20}" "$guid"
exactly "add-view -h o" oracle-rac
exactly "add-tg-member -g tg" tg-east
exactly "delete-hg " oracle-rac
exactly "list-target iqn.2026-11.org.example:c" "$iqn"
expect "--json delete-portal " "127.0.0.1:$port"
# The --socket on the line is the one asked, not $STMFD_SOCKET.
got=$(STMFD_SOCKET=$work/nowhere.sock completions --socket "$sock" list-lu w)
[ "$got" = web01 ] || { echo "FAIL: --socket on the line not used: '$got'"; failures=$((failures + 1)); }
got=$(completions --socket "$work/nowhere.sock" list-lu w)
[ -z "$got" ] || { echo "FAIL: --socket nowhere still offers '$got'"; failures=$((failures + 1)); }
# No daemon: the subcommands and options still complete; the LU list is empty, silently.
kill -TERM "$pid"; wait "$pid" || true; pid=""
err=$( { completions list-lu "" >"$work/out"; } 2>&1)
[ -s "$work/out" ] && { echo "FAIL: no daemon, list-lu offers $(cat "$work/out")"; failures=$((failures + 1)); }
[ -z "$err" ] || { echo "FAIL: no daemon, completion wrote '$err'"; failures=$((failures + 1)); }
exactly "online-l" online-lu
expect "list-lu -" -v --verbose

if [ "$failures" -ne 0 ]; then
  echo "$failures completion checks failed"
  exit 1
fi
echo "stmfadm bash completion: every check passed"
