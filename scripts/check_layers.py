#!/usr/bin/env python3
"""The layer check: fails when a lower layer includes a higher one (docs/architecture.md
"Layers"). The CMake targets keep the link arrows one-way; this keeps the #include arrows
one-way too, which CMake cannot (every target sees the whole tree from the project root).

    scripts/check_layers.py [ROOT]      check the tree at ROOT (default: this repository)
    scripts/check_layers.py --self-test for every rule, a generated tree with one deliberate
                                        violation (must fail, naming file, include and rule)
                                        and a clean tree (must pass)

CTest runs both (tests layer_check and layer_check_fails, labels `unit` and `layers`).
Standard library only (python3).

The rules are the table RULES below, one row per rule:
  name       what a failure message calls the rule
  files      the files it applies to: globs relative to ROOT (`*` stays inside one folder,
             `**` crosses folders)
  skip       files it does not apply to (globs), e.g. the layer's tests, which link more
  forbid     include prefixes the files may not use ("core/" forbids every core header)
  allow      exceptions: includes that match `forbid` but are fine (exact paths or prefixes
             ending in "/")
  why        the one-line reason printed with a violation
  example    (file, include): a violation the self-test plants to prove the rule can fail
An include is the path between the quotes or the angle brackets of `#include`, as written.
"""
import os
import re
import subprocess
import sys
import tempfile

# Every top-level folder of the project, for "anything of the project but ...".
PROJECT = ["common/", "core/", "transport/", "proxy/", "mgmt/", "libstmf/", "tools/", "store_iscsi/", "store_rbd/",
           "mhd/", "test/", "libstmf.h", "stmf_status.h"]
ASIO = ["boost/asio"]
# The SCSI vocabulary (target stmf_scsi): what every core layer may include.
SCSI_VOCABULARY = ["core/scsi/cdb.h", "core/scsi/sense.h", "core/scsi/opcodes.h"]
# The pure codecs: no I/O, no Asio, no framework.
CODECS = ["transport/iscsi/**", "proxy/codec.*", "proxy/frame_reader.*", "proxy/messages.h", "proxy/link_state.*", "proxy/ownership.*"]
# Leaves: headers that include no layer of the project, which any layer (the codecs included)
# may use: common/, the GUID value type (core/guid.h) and the named-logger helper (core/log.h,
# header-only over spdlog).
LEAVES = ["common/", "core/guid.h", "core/log.h"]
TESTS = ["**/*_test.cpp", "**/*_test_util.h"]

RULES = [
    dict(name="core-below-everything", files=["core/**"], skip=[],
         forbid=["transport/", "proxy/", "mgmt/", "tools/", "store_iscsi/", "store_rbd/", "mhd/", "libstmf/", "test/",
                 "libstmf.h", "stmf_status.h"], allow=[],
         why="core/ is the lowest layer: no transport, proxy, mgmt, tools, store_iscsi, store_rbd, mhd or libstmf",
         example=("core/stmf.cpp", "proxy/service.h")),
    dict(name="core-no-asio", files=["core/**"], skip=[], forbid=ASIO, allow=[],
         why="core/ has no Asio (no sockets, no event loop)",
         example=("core/alua.h", "boost/asio.hpp")),
    dict(name="scsi-vocabulary-is-a-leaf", files=["core/scsi/cdb.h", "core/scsi/sense.*", "core/scsi/opcodes.h"],
         skip=[], forbid=PROJECT, allow=SCSI_VOCABULARY + LEAVES,
         why="the SCSI vocabulary (stmf_scsi) sees only itself and the leaves (common/...)",
         example=("core/scsi/sense.cpp", "core/logical_unit.h")),
    dict(name="pr-below-framework", files=["core/pr/**"], skip=TESTS, forbid=PROJECT,
         allow=["core/pr/"] + SCSI_VOCABULARY + LEAVES,
         why="the PR engine (stmf_pr) sees only itself, the SCSI vocabulary and the leaves (common/...)",
         example=("core/pr/pr_in.cpp", "core/stmf.h")),
    dict(name="store-below-framework", files=["core/store/**"], skip=TESTS, forbid=PROJECT,
         allow=["core/store/"] + LEAVES,
         why="the backing stores (stmf_store) know nothing of LUs, tasks or the framework",
         example=("core/store/ram_store.cpp", "core/logical_unit.h")),
    dict(name="rbd-store-over-stores", files=["store_rbd/**"], skip=[], forbid=PROJECT,
         allow=["core/store/", "store_rbd/"] + LEAVES,
         why="the rbd store (stmf_rbd_store) sees only the store interface and the leaves",
         example=("store_rbd/rbd_store.cpp", "core/stmf.h")),
    dict(name="framework-below-block-lu", files=["core/*"], skip=TESTS,
         forbid=["core/scsi/", "core/store/"], allow=SCSI_VOCABULARY,
         why="the framework (stmf_core) does not see the block LU (stmf_sbd) or the stores",
         example=("core/views.cpp", "core/scsi/sbd_lu.h")),
    dict(name="codec-no-core", files=CODECS, skip=[], forbid=["core/"], allow=LEAVES,
         why="the pure codecs do not see the framework",
         example=("proxy/link_state.cpp", "core/stmf.h")),
    dict(name="codec-no-asio", files=CODECS, skip=[], forbid=ASIO, allow=[],
         why="the pure codecs do no I/O: no Asio",
         example=("transport/iscsi/login.cpp", "boost/asio/ip/tcp.hpp")),
    dict(name="mgmt-no-asio", files=["mgmt/**"], skip=[], forbid=ASIO, allow=[],
         why="mgmt/ is shared with libstmf and stmfadm: no Asio",
         example=("mgmt/ops.cpp", "boost/asio.hpp")),
    dict(name="mgmt-not-libstmf", files=["mgmt/**"], skip=[], forbid=["libstmf/"], allow=[],
         why="mgmt/ and libstmf/ share only the public headers of include/ (<stmf_status.h>)",
         example=("mgmt/protocol.h", "libstmf/libstmf.cpp")),
    dict(name="libstmf-client-only", files=["libstmf/**"], skip=[], forbid=PROJECT + ASIO,
         allow=["libstmf/", "libstmf.h", "stmf_status.h", "mgmt/client.h", "mgmt/protocol.h",
                "mgmt/json_limits.h", "mgmt/door_fd.h",
                "mgmt/size.h"] + LEAVES,  # the client library's pieces (stmf_mgmt_client), header-only helpers
         why="libstmf sees only the management client and protocol, the leaves (common/...) and its public headers",
         example=("libstmf/libstmf.cpp", "core/stmf.h")),
    dict(name="public-headers-stand-alone", files=["include/**"], skip=[], forbid=PROJECT,
         allow=["libstmf.h", "stmf_status.h"],
         why="the public C headers (include/) include only each other and the C library",
         example=("include/libstmf.h", "mgmt/protocol.h")),
    dict(name="leaves-stay-leaves", files=["common/**", "core/guid.h", "core/log.h"], skip=[],
         forbid=PROJECT + ["boost/", "nlohmann/"], allow=["common/"],
         why="the leaves (common/, core/guid.h, core/log.h) are used by every layer: no project header, no Boost",
         example=("common/byte_order.h", "core/scsi/cdb.h")),
]

SOURCE_SUFFIXES = (".h", ".hpp", ".c", ".cc", ".cpp")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def glob_regex(glob):
    """`**` crosses folders, `*` stays inside one, everything else is literal."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return re.compile(out + r"\Z")


def matches(path, globs):
    return any(glob_regex(g).match(path) for g in globs)


def prefixed(include, patterns):
    """"x/" matches everything under x/; "x" matches x itself, x/... and x.<suffix>."""
    return any(include.startswith(p) if p.endswith("/") else
               include == p or include.startswith(p + "/") or include.startswith(p + ".")
               for p in patterns)


def sources(root):
    """Every C/C++ source of the tree, relative to root; build trees and hidden folders skipped."""
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and
                         not os.path.exists(os.path.join(d, x, "CMakeCache.txt")))
        for f in sorted(files):
            if f.endswith(SOURCE_SUFFIXES):
                yield os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")


def violations(root):
    found = []
    for rel in sources(root):
        rules = [r for r in RULES if matches(rel, r["files"]) and not matches(rel, r["skip"])]
        if not rules:
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                for r in rules:
                    if prefixed(inc, r["forbid"]) and not prefixed(inc, r["allow"]):
                        found.append(f'{rel}:{n}: includes "{inc}": breaks rule {r["name"]} ({r["why"]})')
    return found


def check(root):
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print(f"check_layers: {len(found)} include(s) against the layers (rules atop {__file__})")
        return 1
    print(f"check_layers: {sum(1 for _ in sources(root))} files, {len(RULES)} rules, no violation")
    return 0


def self_test():
    """Each rule's example planted alone in a fresh tree must fail, naming the file, the
    include and the rule; a tree of allowed includes must pass."""
    failures = []
    me = os.path.abspath(__file__)

    def run(tree):
        return subprocess.run([sys.executable, me, tree], capture_output=True, text=True)

    def plant(tree, rel, text):
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write(text)

    for r in RULES:
        rel, inc = r["example"]
        with tempfile.TemporaryDirectory() as tree:
            plant(tree, rel, f'#include <cstdint>\n#include "{inc}"\n')
            p = run(tree)
            want = f'{rel}:2: includes "{inc}": breaks rule {r["name"]}'
            if p.returncode == 0 or want not in p.stdout:
                failures.append(f"rule {r['name']}: planted {rel} -> {inc}, got rc {p.returncode}:\n{p.stdout}")
    with tempfile.TemporaryDirectory() as tree:
        for rel, inc in [("core/stmf.cpp", "core/scsi/cdb.h"), ("core/scsi/sbd_lu.cpp", "core/stmf.h"),
                         ("proxy/messages.h", "core/guid.h"), ("proxy/service.cpp", "boost/asio.hpp"),
                         ("libstmf/libstmf.cpp", "mgmt/client.h"), ("mgmt/protocol.h", "stmf_status.h"),
                         ("core/pr/pr_engine.h", "core/scsi/sense.h"),
                         ("core/store/store_log.h", "core/log.h"), ("core/scsi/cdb.h", "common/byte_order.h")]:
            plant(tree, rel, f'#include "{inc}"\n')
        p = run(tree)
        if p.returncode != 0:
            failures.append(f"a tree of allowed includes failed:\n{p.stdout}")
    for f in failures:
        print("FAIL", f)
    print(f"check_layers self-test: {len(RULES)} rules planted, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.exit(__doc__)
    sys.exit(check(args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))
