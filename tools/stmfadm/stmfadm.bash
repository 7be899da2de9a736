# bash completion for stmfadm (docs/stmfadm.md, "Bash completion"); installed as
# share/bash-completion/completions/stmfadm. It needs nothing from the bash-completion
# package. The subcommands and each subcommand's options come from the stmfadm being
# completed (`stmfadm --help`, `stmfadm SUBCOMMAND --help`), so they never go stale; LU GUIDs
# and names, targets, groups and portals from the daemon (list-lu -v, list-target, list-hg,
# list-tg, list-portal) when it answers, through the --socket given on the line if any.

# The stmfadm of the line, with its --socket if one was given: _stmfadm_cmd ARRAY_NAME.
_stmfadm_run() {
  local -a cmd=("${_stmfadm_argv0}")
  [[ -n ${_stmfadm_socket} ]] && cmd+=(--socket "${_stmfadm_socket}")
  if command -v timeout >/dev/null 2>&1; then
    timeout 3 "${cmd[@]}" "$@" 2>/dev/null
  else
    "${cmd[@]}" "$@" 2>/dev/null
  fi
}

_stmfadm_subcommands() {
  _stmfadm_run --help | sed -n '/^Subcommands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'
}

# A subcommand's options (its --help, up to "Global options"), and the global ones.
_stmfadm_options() {
  _stmfadm_run "$1" --help | sed -n '/^Options:/,/^Global options/p' |
    sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n' | grep -v -e '^-?$' -e '^-h$'
  printf '%s\n' --json --socket
}

# LU GUIDs and names (list-lu -v: "LU Name: GUID", then "    Alias : name" or "-").
_stmfadm_lus() {
  _stmfadm_run list-lu -v | while IFS= read -r line; do
    case $line in
      "LU Name: "*) printf '%s\n' "${line#LU Name: }" ;;
      "    Alias"*)
        local a=${line#*: }
        [[ $a != "-" && $a != *" "* ]] && printf '%s\n' "$a"
        ;;
    esac
  done
}

_stmfadm_targets() { _stmfadm_run list-target | sed -n 's/^Target: //p'; }
_stmfadm_host_groups() { _stmfadm_run list-hg | sed -n 's/^Host Group: //p'; }
_stmfadm_target_groups() { _stmfadm_run list-tg | sed -n 's/^Target Group: //p'; }
_stmfadm_portals() { _stmfadm_run --json list-portal | grep -o '"host":"[^"]*","port":[0-9]*' |
  sed 's/"host":"\([^"]*\)","port":\([0-9]*\)/\1:\2/'; }

_stmfadm_words() { # _stmfadm_words WORD... : COMPREPLY from the words matching $cur
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$*" -- "$cur"))
}

_stmfadm_files() {
  local IFS=$'\n'
  COMPREPLY=($(compgen -f -- "$cur"))
  compopt -o filenames 2>/dev/null
}

_stmfadm() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  local _stmfadm_argv0=${COMP_WORDS[0]} _stmfadm_socket="" sub="" i w
  COMPREPLY=()
  # The subcommand: the first word that is neither an option nor --socket's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == --socket ]]; then
      _stmfadm_socket=${COMP_WORDS[i + 1]}
      ((i++))
    elif [[ $w == --socket=* ]]; then
      _stmfadm_socket=${w#--socket=}
    elif [[ -z $sub && $w != -* ]]; then
      sub=$w
    fi
  done
  _stmfadm_socket=${_stmfadm_socket/#\~/$HOME}

  if [[ $prev == --socket ]]; then
    _stmfadm_files
    return
  fi
  if [[ -z $sub ]]; then
    if [[ $cur == -* ]]; then
      _stmfadm_words --json --socket --help --version
    else
      _stmfadm_words "$(_stmfadm_subcommands)"
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    _stmfadm_words "$(_stmfadm_options "$sub")"
    return
  fi

  # An option's value.
  case $sub:$prev in
    *:-l | *:--lu-name) _stmfadm_words "$(_stmfadm_lus)"; return ;;
    *-hg-member:-g | *-hg-member:--group-name | add-view:-h | add-view:--host-group)
      _stmfadm_words "$(_stmfadm_host_groups)"; return ;;
    *-tg-member:-g | *-tg-member:--group-name | add-view:-t | add-view:--target-group)
      _stmfadm_words "$(_stmfadm_target_groups)"; return ;;
    *:--auth-method | *:--discovery-auth) _stmfadm_words default none chap; return ;;
    create-lu:-p | create-lu:--lu-prop)
      compopt -o nospace 2>/dev/null
      _stmfadm_words alias= blk= pblk= guid= oui= host-id= pid= vid= serial= mgmt-url= wcd= wp=
      return ;;
    modify-lu:-p | modify-lu:--lu-prop)
      compopt -o nospace 2>/dev/null
      _stmfadm_words alias= mgmt-url= wcd= wp=
      return ;;
    *:--chap-secret-file | *:--mutual-secret-file | export:-o | export:--output) _stmfadm_files; return ;;
    *:-s | *:--size | *:-n | *:--name | *:-t | *:--tpgt | *:-a | *:--alias | *:-u | *:--chap-user | \
      *:--mutual-user | *:--initiator | *:-i | *:--interval | *:-c | *:--count | *:--node | *:--ash | \
      *:--since | *:--until)
      return ;;  # a value of the user's own
  esac

  # Operands.
  case $sub in
    modify-lu | delete-lu | list-lu | list-pr | online-lu | offline-lu | add-view | switchover-lu)
      _stmfadm_words "$(_stmfadm_lus)" ;;
    create-lu | import-lu | import) _stmfadm_files ;;
    list-target | online-target | offline-target | modify-target | delete-target | list-session)
      _stmfadm_words "$(_stmfadm_targets)" ;;
    delete-hg | list-hg) _stmfadm_words "$(_stmfadm_host_groups)" ;;
    delete-tg | list-tg) _stmfadm_words "$(_stmfadm_target_groups)" ;;
    delete-portal) _stmfadm_words "$(_stmfadm_portals)" ;;
    set-alua-state) _stmfadm_words enable disable ;;
    arsctl)
      if [[ $prev == arsctl ]]; then
        _stmfadm_words get set
      elif [[ $prev == get || $prev == set ]]; then
        _stmfadm_words saf machid arrayid ashctr ashincr dfltspi dfltspilen allocash
      fi ;;
    arsop) [[ $prev == arsop ]] && _stmfadm_words info setspi flush ;;
  esac
}

complete -F _stmfadm stmfadm
