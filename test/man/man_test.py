#!/usr/bin/env python3
"""The man pages as built (docs/man/CMakeLists.txt, CTest man_pages, labels man and docs):

* every page renders with groff -man -ww without a warning, and with man -l when man-db is
  installed; its NAME, SYNOPSIS and DESCRIPTION sections are there;
* every ".so" link names a page that exists;
* every subcommand stmfadm accepts (its --help list) is in stmfadm(8), and every option of
  each subcommand (its --help) too;
* every call include/libstmf.h declares has a page, NAME(3STMF).

  man_test.py --man-dir DIR --header include/libstmf.h --stmfadm PATH
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def render(path, root):
    """(text, warnings) of a page rendered by groff (from `root`, so .so links resolve)."""
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-k", "-I", root, path], cwd=root,
                       capture_output=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    return r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace").strip(), r.returncode


def plain(text):
    """Rendered text without overstrike (bold/underline) and hyphenation breaks."""
    text = re.sub(r".\x08", "", text)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text.replace("\u2010\n", "").replace("\u2010", "-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--man-dir", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--stmfadm", required=True)
    a = ap.parse_args()
    root = a.man_dir
    if shutil.which("groff") is None:
        print("FAIL: groff is not installed (Debian groff-base; scripts/deps.sh --test installs it)")
        return 1
    pages = []
    for d in sorted(os.listdir(root)):
        if re.match(r"^man\d", d):
            for f in sorted(os.listdir(os.path.join(root, d))):
                pages.append(os.path.join(d, f))
    if not pages:
        fail("no pages under " + root)
    have_man = shutil.which("man") is not None
    texts = {}
    for p in pages:
        full = os.path.join(root, p)
        with open(full, encoding="utf-8") as f:
            src = f.read()
        m = re.match(r"^\.so (\S+)\s*$", src)
        if m:
            if not os.path.isfile(os.path.join(root, m.group(1))):
                fail("%s: .so %s names no page" % (p, m.group(1)))
            continue
        text, warnings, rc = render(p, root)
        if rc != 0 or warnings:
            fail("%s: groff -ww: status %d, %s" % (p, rc, warnings))
        for sec in ("NAME", "SYNOPSIS", "DESCRIPTION"):
            if not re.search(r'^\.SH "?%s"?\s*$' % sec, src, re.M):
                fail("%s: no %s section" % (p, sec))
        if have_man:
            r = subprocess.run(["man", "-l", "--warnings", full], capture_output=True, cwd=root,
                               env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80", LC_ALL="C.UTF-8"))
            if r.returncode != 0 or not r.stdout or r.stderr.strip():
                fail("%s: man -l: status %d, %s" % (p, r.returncode, r.stderr.decode()[:300]))
        texts[p] = plain(text)

    # stmfadm(8): every subcommand and every option of each.
    adm = texts.get("man8/stmfadm.8", "")
    if not adm:
        fail("no stmfadm(8)")
    helptext = subprocess.run([a.stmfadm, "--help"], capture_output=True, text=True).stdout
    subs = re.findall(r"^  ([a-z][a-z0-9-]+)\s", helptext.split("Subcommands:", 1)[-1], re.M)
    if len(subs) < 40:
        fail("stmfadm --help lists only %d subcommands: %s" % (len(subs), subs))
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*", adm))
    for s in subs:
        if s not in words:
            fail("stmfadm(8) does not document the subcommand %s" % s)
        sub_help = subprocess.run([a.stmfadm, s, "--help"], capture_output=True, text=True).stdout
        own = sub_help.split("Global options", 1)[0]
        # each option, by its long or one of its short names ("-s,--size": -s or --size)
        for names in re.findall(r"^\s+((?:-[^-\s],)*--[a-z][a-z0-9-]*)", own, re.M):
            names = names.split(",")
            if "--help" in names:
                continue
            if not any(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(n), adm) for n in names):
                fail("stmfadm(8) does not document %s %s" % (s, "/".join(names)))

    # libstmf: a page per call.
    with open(a.header, encoding="utf-8") as f:
        header = f.read()
    calls = sorted(set(re.findall(r"^\s*(?:int|void)\s+(stmf[A-Za-z]+)\s*\(", header, re.M)))
    if len(calls) < 40:
        fail("libstmf.h: only %d calls found" % len(calls))
    for c in calls:
        if "man3stmf/%s.3stmf" % c not in pages:
            fail("no page %s(3STMF)" % c)
    if "man3lib/libstmf.3lib" not in pages:
        fail("no page libstmf(3LIB)")
    print("%d pages, %d stmfadm subcommands, %d libstmf calls checked; %d failures"
          % (len(pages), len(subs), len(calls), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
