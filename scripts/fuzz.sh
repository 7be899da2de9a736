#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of test/fuzz/ (docs/fuzzing.md) in a clang build
# directory of their own (default build-fuzz/, ASan + UBSan, ccache when present).
#
#   scripts/fuzz.sh --ci               build, then run every target for $STMF_FUZZ_SECONDS (20)
#   scripts/fuzz.sh --ci-build         configure and build the targets only (CTest's fixture)
#   scripts/fuzz.sh --ci-run TARGET    run one target for $STMF_FUZZ_SECONDS (20; a CTest test)
#   scripts/fuzz.sh --minutes N [--targets "fuzz_pdu ..."]
#                                      a long campaign: every target for N minutes, one after
#                                      the other, one job each, under nice -n 19; it stops by
#                                      itself and leaves its corpus, crashes and a summary in
#                                      <build-dir>/campaign/
#   scripts/fuzz.sh --merge            minimize the campaign's corpus with the committed one
#                                      into test/fuzz/corpus/<target>/ (-set_cover_merge=1)
#   scripts/fuzz.sh --seeds            regenerate the seed files (corpus/<target>/seed-*)
#   --build-dir DIR                    the clang build directory (before the action)
#
# Short runs (CI) never write into the repository: new inputs go to a scratch corpus in the
# build directory, the committed corpus and regression inputs (test/fuzz/regressions/<target>/)
# are only read. A crash fails the run and prints the input (base64) and where it was saved.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build-fuzz
targets="fuzz_pdu fuzz_login fuzz_proxy fuzz_mgmt fuzz_scsi"
seconds=${STMF_FUZZ_SECONDS:-20}
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Flags every run gets: bounded memory and per-input time, no input larger than 64 KiB.
common=(-rss_limit_mb=2048 -timeout=20 -max_len=65536 -print_final_stats=1)

configure_and_build() {
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  # -O1 with line tables: libFuzzer's recommendation, and a third cheaper to build than -O2 -g.
  local flags="-O1 -gline-tables-only -DNDEBUG"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTMF_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" >/dev/null
  cmake --build "$build" -j"${STMF_FUZZ_JOBS:-2}" --target $targets "$@"
}

binary() { echo "$build/test/fuzz/$1"; }

corpus_dirs() {  # the committed inputs of a target (read only)
  local d
  for d in "$root/test/fuzz/corpus/$1" "$root/test/fuzz/regressions/$1"; do
    [ -d "$d" ] && echo "$d"
  done
  return 0
}

show_crashes() {  # prints every artifact under $1 (base64), returns 1 if there is one
  local f found=0
  for f in "$1"/crash-* "$1"/leak-* "$1"/timeout-* "$1"/oom-* "$1"/slow-unit-*; do
    [ -e "$f" ] || continue
    case "$f" in */slow-unit-*) continue;; esac
    found=1
    echo "== $f ($(stat -c %s "$f") bytes), base64:"
    base64 -w 76 "$f"
  done
  [ $found = 0 ]
}

ci_run() {
  local t=$1 bin out
  bin=$(binary "$t")
  [ -x "$bin" ] || { echo "$bin is not built (scripts/fuzz.sh --ci-build)" >&2; exit 1; }
  out="$build/ci/$t"
  rm -rf "$out" && mkdir -p "$out/corpus" "$out/artifacts"
  echo "$t: ${seconds}s on $(corpus_dirs "$t" | xargs -r -n1 basename | tr '\n' ' ')"
  local rc=0
  # The first directory is the only one libFuzzer writes to: the scratch corpus.
  "$bin" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$out/artifacts/" \
    "$out/corpus" $(corpus_dirs "$t") >"$out/log" 2>&1 || rc=$?
  grep -E '^#[0-9]+.*(INITED|DONE)|^stat::number_of_executed_units|^stat::peak_rss_mb' "$out/log" || true
  if [ $rc -ne 0 ] || ! show_crashes "$out/artifacts"; then
    tail -n 60 "$out/log"
    echo "$t FAILED (exit $rc); log: $out/log; add the input to test/fuzz/regressions/$t/ once fixed" >&2
    return 1
  fi
  echo "$t: ok"
}

campaign() {
  local minutes=$1 t bin dir
  configure_and_build
  mkdir -p "$build/campaign"
  local summary="$build/campaign/summary.txt"
  for t in $targets; do
    dir="$build/campaign/$t"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    # A copy: fork mode starts the binary again for every job, and a rebuild must not change it.
    bin="$dir/$t"
    cp "$(binary "$t")" "$bin"
    echo "$(date -u +%FT%TZ) $t: $minutes min" | tee -a "$summary"
    # Fork mode with one job: a crash, leak, OOM or timeout is saved and the campaign goes on.
    nice -n 19 "$bin" "${common[@]}" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
      -max_total_time=$((minutes * 60)) -artifact_prefix="$dir/artifacts/" \
      "$dir/corpus" $(corpus_dirs "$t") >"$dir/log" 2>&1 || true
    # The last progress line: total executions, coverage (edges), features, corpus size.
    local last crashes
    last=$(grep -E '^#[0-9]+: cov:' "$dir/log" | tail -n 1 || true)
    crashes=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    echo "$(date -u +%FT%TZ) $t: ${last:-no progress line} artifacts: $crashes" | tee -a "$summary"
  done
}

# The minimized corpus keeps every seed-* file under its name (a merge names inputs by their
# SHA-1 and may drop a seed that adds no coverage) plus what the merge chose beyond them.
merge() {
  local t bin new f dir
  configure_and_build
  for t in $targets; do
    bin=$(binary "$t")
    dir="$root/test/fuzz/corpus/$t"
    new=$(mktemp -d)
    local sources=("$dir")
    [ -d "$build/campaign/$t/corpus" ] && sources+=("$build/campaign/$t/corpus")
    "$bin" -set_cover_merge=1 "${common[@]}" "$new" "${sources[@]}" >"$build/merge-$t.log" 2>&1
    for f in "$dir"/seed-*; do
      [ -e "$f" ] || continue
      rm -f "$new/$(sha1sum "$f" | cut -d' ' -f1)"
      cp "$f" "$new/"
    done
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$new"/* "$dir/"
    rm -rf "$new"
    echo "$t: $(ls "$dir" | wc -l) inputs, $(du -sk --apparent-size "$dir" | cut -f1) KiB"
  done
}

seeds() {
  configure_and_build fuzz_make_seeds
  "$build/test/fuzz/fuzz_make_seeds" "$root/test/fuzz/corpus"
}

action=""; arg=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2;;
    --targets) targets=$2; shift 2;;
    --ci|--ci-build|--merge|--seeds) action=$1; shift;;
    --ci-run|--minutes) action=$1; arg=${2:?}; shift 2;;
    *) usage;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build";; esac

case "$action" in
  --ci)
    configure_and_build
    failed=0
    for t in $targets; do ci_run "$t" || failed=1; done
    exit $failed;;
  --ci-build) configure_and_build;;
  --ci-run) ci_run "$arg";;
  --minutes)
    case "$arg" in ''|*[!0-9]*) usage;; esac
    campaign "$arg";;
  --merge) merge;;
  --seeds) seeds;;
  *) usage;;
esac
