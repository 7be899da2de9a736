#!/usr/bin/env python3
"""Builds the man pages (docs/man/README.md) with scdoc from one source each:

* docs/man/*.scd, hand-written; a line "; include-md: FILE[#section]" is replaced by the
  markdown document FILE (relative to docs/man/), or only its "## section", converted to
  scdoc. So stmfadm(8) is docs/stmfadm.md and stmfd.json(5) docs/configuration.md: the
  pages cannot contradict the docs.
* the libstmf calls: one NAME(3STMF) page per call declared in include/libstmf.h, made from
  its section of docs/libstmf.md (prototype, description, return values, notes), and
  libstmf(3LIB) from the document's introduction. Calls that illumos documents on one page
  share it here too: the other names are ".so" links (LINKS below).

  gen_man.py --list SRCDIR                 the pages it makes (paths under the output dir)
  gen_man.py --scdoc PATH SRCDIR OUTDIR    makes them (OUTDIR/man8/stmfadm.8, ...)
  gen_man.py --calls SRCDIR                the calls libstmf.h declares (for the tests)

SRCDIR is the source tree's root. Only the Python standard library and scdoc are needed.
"""
import os
import re
import subprocess
import sys

# Pages illumos documents together: the second name is a link to the first's page.
LINKS = {"stmfModifyLuByFname": "stmfModifyLu"}

# libstmf calls that COMSTAR does not have (their ATTRIBUTES say so).
EXTENSIONS = {"stmfSwitchoverLu", "stmfArsctl", "stmfArsop"}

# The NAME line of each call's page (illumos's wording where illumos has the call).
SUMMARIES = {
    "stmfAddToHostGroup": "add an initiator port to an existing host group",
    "stmfAddToTargetGroup": "add a target port to an existing target group",
    "stmfAddViewEntry": "add a view entry to a logical unit",
    "stmfCreateHostGroup": "create a new host group",
    "stmfCreateLu": "create a logical unit",
    "stmfCreateLuResource": "create a new logical unit resource",
    "stmfCreateTargetGroup": "create a new target port group",
    "stmfDeleteHostGroup": "delete an existing host group",
    "stmfDeleteLu": "delete a logical unit",
    "stmfDeleteTargetGroup": "delete an existing target port group",
    "stmfDevidFromIscsiName": "convert an iSCSI name to a stmfDevid structure",
    "stmfDevidFromWwn": "convert a WWN to a stmfDevid structure",
    "stmfFreeLuResource": "free an allocated logical unit resource",
    "stmfFreeMemory": "free memory allocated by this library",
    "stmfGetHostGroupList": "retrieve the list of host groups",
    "stmfGetHostGroupMembers": "retrieve the properties of the specified host group",
    "stmfGetLogicalUnitList": "retrieve the list of logical units",
    "stmfGetLogicalUnitProperties": "retrieve the properties of the specified logical unit",
    "stmfGetLuProp": "get a logical unit property",
    "stmfGetLuResource": "get a logical unit resource for a currently registered logical unit",
    "stmfGetSessionList": "retrieve the list of sessions of a target port",
    "stmfGetState": "retrieve the operational and configuration states of the STMF service",
    "stmfGetTargetGroupList": "retrieve the list of target port groups",
    "stmfGetTargetGroupMembers": "retrieve the properties of the specified target port group",
    "stmfGetTargetList": "retrieve the list of target ports",
    "stmfGetTargetProperties": "retrieve the properties of the specified target port",
    "stmfGetViewEntryList": "retrieve the list of view entries for a specified logical unit",
    "stmfImportLu": "import a logical unit from its backing file",
    "stmfModifyLu": "modify a logical unit property, by GUID or by backing file",
    "stmfOffline": "take the STMF service offline",
    "stmfOfflineTarget": "take offline a target port that is currently in the online state",
    "stmfOfflineLogicalUnit": "take offline a logical unit that is currently in the online state",
    "stmfOnline": "bring the STMF service online",
    "stmfOnlineTarget": "bring online a target port that is currently in the offline state",
    "stmfOnlineLogicalUnit": "bring online a logical unit that is currently in the offline state",
    "stmfRemoveFromHostGroup": "remove an initiator port from a host group",
    "stmfRemoveFromTargetGroup": "remove a target port from a target port group",
    "stmfRemoveViewEntry": "remove a view entry from a logical unit",
    "stmfSetLuProp": "set a logical unit property",
    "stmfSetAluaState": "set the Asymmetric Logical Unit Access State (ALUA) mode for STMF",
    "stmfGetAluaState": "get the Asymmetric Logical Unit Access State (ALUA) mode for STMF",
    "stmfLuStandby": "set a logical unit to the standby state (hand it to the ALUA peer)",
    "stmfSwitchoverLu": "move a logical unit's ownership to the other node of the ALUA pair",
    "stmfInitProxyDoor": "establish the door server with the STMF proxy service",
    "stmfPostProxyMsg": "post a proxy message from the peer node to the STMF proxy service",
    "stmfDestroyProxyDoor": "destroy the door server of the STMF proxy service",
    "stmfArsctl": "query or change the array session settings of the node",
    "stmfArsop": "query or change one array session",
}

# The PARAMETERS of the calls, by parameter name.
PARAMETERS = {
    "hdl": "The LU resource handle (luResource), or for the proxy door calls the door handle.",
    "dType": "The device type: STMF_DISK (the only one supported).",
    "propType": "The property: one of the STMF_LU_PROP_* values (libstmf(3LIB), LU properties).",
    "prop": "The buffer that receives the property's value, NUL-terminated.",
    "propVal": "The property's new value, a NUL-terminated string.",
    "propLen": "On input the size of prop in bytes; when it is too small, set to the size needed.",
    "luGuid": "The LU's GUID (stmfGuid, 16 bytes).",
    "lu": "The LU's GUID (stmfGuid, 16 bytes).",
    "logicalUnit": "The LU's GUID (stmfGuid, 16 bytes).",
    "logicalUnitList": "Receives the list of LU GUIDs; free it with stmfFreeMemory(3STMF).",
    "logicalUnitProps": "Receives the LU's properties.",
    "fname": "The LU's backing file.",
    "hostGroupName": "The host group's name (stmfGroupName, NUL-terminated, at most 255 bytes).",
    "targetGroupName": "The target group's name (stmfGroupName, NUL-terminated, at most 255 bytes).",
    "name": "The initiator port to add (stmfDevid).",
    "initiatorName": "The initiator port (stmfDevid).",
    "targetName": "The target port (stmfDevid).",
    "initiatorGroupList": "Receives the list of host group names; free it with stmfFreeMemory(3STMF).",
    "targetGroupList": "Receives the list of target group names; free it with stmfFreeMemory(3STMF).",
    "groupProperties": "Receives the group's members; free it with stmfFreeMemory(3STMF).",
    "viewEntry": "The view entry to add; on success its index and LU number are filled in.",
    "viewEntryIndex": "The index of the view entry to remove.",
    "viewEntryList": "Receives the LU's view entries; free it with stmfFreeMemory(3STMF).",
    "target": "The target port (stmfDevid).",
    "devid": "The target port, or for stmfDevidFrom* the device identifier filled in (stmfDevid).",
    "targetList": "Receives the list of target ports; free it with stmfFreeMemory(3STMF).",
    "targetProps": "Receives the target port's properties.",
    "sessionList": "Receives the target port's sessions; free it with stmfFreeMemory(3STMF).",
    "iscsiName": "An iSCSI name (iqn.... or eui....), NUL-terminated.",
    "wwn": "A world wide name, 8 bytes.",
    "alua_enabled": "B_TRUE when enabling ALUA mode; B_FALSE when disabling it (for stmfGetAluaState, receives it).",
    "node": "This node's number in the pair: 0 or 1 (for stmfGetAluaState, receives it).",
    "fd": "The door's file descriptor (see DESCRIPTION).",
    "buf": "The message (or the buffer) and, in the next parameter, its length in bytes.",
    "buflen": "The length of buf in bytes.",
    "len": "The length of buf in bytes.",
    "func": "The operation (ARSCTL_* or ARSOP_* from libstmf.h).",
    "bufptr": "The operation's argument or result buffer.",
    "ash": "The array session handle.",
}

# The markdown sections of docs/libstmf.md that make libstmf(3LIB).
LIB_SECTIONS = ["Using the library", "Types", "LU properties", "Differences from COMSTAR (summary)"]

CALL_RE = re.compile(r"^\s*(?:int|void)\s+(stmf[A-Za-z]+)\s*\(([^)]*)\)\s*;", re.M)


# ----------------------------------------------------------------------------------------
# markdown -> scdoc

def esc(text):
    """Plain text: scdoc's formatting characters made literal."""
    return re.sub(r"([\\*_])", r"\\\1", text)


INLINE_RE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)]*)\)|(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])")


def inline(text):
    out, pos = [], 0
    for m in INLINE_RE.finditer(text):
        out.append(esc(text[pos:m.start()]))
        code, bold, ltext, url, em = m.groups()
        if code is not None:
            out.append("*" + esc(code) + "*")
        elif bold is not None:
            out.append("*" + inline_plain(bold) + "*")
        elif ltext is not None:
            label = inline(ltext)
            out.append(label + (" (" + esc(url) + ")" if url.startswith("http") else ""))
        else:
            out.append("_" + inline_plain(em) + "_")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def inline_plain(text):
    """Inside bold or underline: code spans and links lose their own markup."""
    text = re.sub(r"`([^`]+)`", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    return esc(text)


def safe_start(line):
    """A paragraph line may not start with what scdoc reads as a list, table or comment."""
    if line[:1] in ".-;|:[#\t" or line.startswith("++"):
        return "\\" + line
    return line


def split_row(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, cur, in_code = [], "", False
    for ch in line:
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code and not cur.endswith("\\"):
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
    cells.append(cur.strip())
    return [c.replace("\\|", "|") for c in cells]


def table(rows):
    """A markdown table as a list of entries: the first cell in bold, the others indented."""
    header, body = rows[0], rows[2:]
    out = []
    for r in body:
        out.append(safe_start("*" + inline_plain(r[0]) + "*") if r[0] else "\\-")
        rest = [(header[i] if i < len(header) else "", r[i]) for i in range(1, len(r)) if r[i]]
        for i, (h, c) in enumerate(rest):
            label = (inline(h) + ": ") if len(rest) > 1 and h else ""
            # the first line indented; the next ones (after a "++" break) not, or scdoc would
            # keep their tab in the text
            text = label + inline(c) + (" ++" if i + 1 < len(rest) else "")
            out.append("\t" + text if i == 0 else safe_start(text))
        out.append("")
    return out


def md_to_scd(lines, shift):
    """Markdown lines -> scdoc lines. A heading of level n becomes level n - shift (1: '# UPPER')."""
    out, i, n = [], 0, len(lines)
    para = []

    def flush():
        if para:
            out.append(safe_start(inline(" ".join(p.strip() for p in para))))
            out.append("")
            para.clear()

    while i < n:
        line = lines[i]
        s = line.strip()
        if s.startswith("```"):
            flush()
            out.append("```")
            i += 1
            while i < n and not lines[i].strip().startswith("```"):
                out.append(lines[i].replace("\\", "\\\\"))
                i += 1
            out.append("```")
            out.append("")
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            flush()
            level = len(m.group(1)) - shift
            title = re.sub(r"[`*]", "", m.group(2))
            title = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", title)
            if level <= 1:
                out += ["# " + esc(title.upper()), ""]
            else:
                out += ["## " + esc(title), ""]
            i += 1
            continue
        if s.startswith("|") and i + 1 < n and re.match(r"^\s*\|?\s*:?-{2,}", lines[i + 1]):
            flush()
            rows = []
            while i < n and lines[i].strip().startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            out += table(rows)
            continue
        m = re.match(r"^(\s*)([*-]|\d+\.)\s+(.*)$", line)
        if m and not re.match(r"^\s*\*\*", line) and not re.match(r"^\s*-{3,}\s*$", line):
            flush()
            while i < n:
                m = re.match(r"^(\s*)([*-]|\d+\.)\s+(.*)$", lines[i])
                if not m or re.match(r"^\s*\*\*", lines[i]):
                    break
                depth = len(m.group(1)) // 2
                bullet = "." if m.group(2)[0].isdigit() else "-"
                text = [m.group(3)]
                i += 1
                while i < n and lines[i].strip() and lines[i].startswith(" ") and \
                        not re.match(r"^\s*([*-]|\d+\.)\s+", lines[i]):
                    text.append(lines[i].strip())
                    i += 1
                out.append("\t" * depth + bullet + " " + inline(" ".join(text)))
                if i < n and not lines[i].strip():
                    # a blank line between items keeps the list; anything else ends it
                    if i + 1 < n and re.match(r"^\s*([*-]|\d+\.)\s+", lines[i + 1]) and \
                            not re.match(r"^\s*\*\*", lines[i + 1]):
                        i += 1
                        continue
                    break
            out.append("")
            continue
        if re.match(r"^\s*-{3,}\s*$", line) or re.match(r"^\s*<!--.*-->\s*$", line):
            flush()
            i += 1
            continue
        if not s:
            flush()
            i += 1
            continue
        para.append(line)
        i += 1
    flush()
    return out


def md_sections(lines, level):
    """{title: lines} of the headings of `level` (the lines under each, up to the next)."""
    secs, cur, prefix = {}, None, "#" * level + " "
    for line in lines:
        if line.startswith(prefix):
            cur = line[len(prefix):].strip()
            secs[cur] = []
        elif cur is not None:
            if re.match(r"^#{1,%d} " % (level - 1), line):
                cur = None
            else:
                secs[cur].append(line)
    return secs


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ----------------------------------------------------------------------------------------
# the hand-written pages with their includes

def expand(scd_path):
    """The page's scdoc text, each "; include-md: FILE[#PART]" line replaced: PART is "intro"
    (the text before the first "## " heading), "TITLE" (that "## TITLE" section's body, its
    "###" headings as subsections) or "TITLE..." (that section and all after it, each "##"
    heading a section of the page); without PART the whole document but its title line."""
    out = []
    base = os.path.dirname(scd_path)
    for line in read(scd_path).splitlines():
        m = re.match(r"^; include-md: ([^#\s]+)(?:#(.+))?$", line)
        if not m:
            out.append(line)
            continue
        md = read(os.path.join(base, m.group(1))).splitlines()
        if md and md[0].startswith("# "):
            md = md[1:]  # the document's title: the page's NAME says it
        part = m.group(2)
        first = next((i for i, l in enumerate(md) if l.startswith("## ")), len(md))
        if part is None:
            out += md_to_scd(md, 1)
        elif part == "intro":
            out += md_to_scd(md[:first], 1)
        elif part.endswith("..."):
            start = next((i for i, l in enumerate(md) if l == "## " + part[:-3]), None)
            if start is None:
                raise SystemExit("gen_man.py: %s: no section '%s' in %s" % (scd_path, part[:-3], m.group(1)))
            out += md_to_scd(md[start:], 1)
        else:
            secs = md_sections(md, 2)
            if part not in secs:
                raise SystemExit("gen_man.py: %s: no section '%s' in %s" % (scd_path, part, m.group(1)))
            out += md_to_scd(secs[part], 2)
    return "\n".join(out).rstrip() + "\n"


def scd_pages(src):
    d = os.path.join(src, "docs", "man")
    pages = []
    for f in sorted(os.listdir(d)):
        m = re.match(r"^(.+)\.(\d\w*)\.scd$", f)
        if m:
            pages.append((os.path.join(d, f), m.group(1), m.group(2)))
    return pages


# ----------------------------------------------------------------------------------------
# libstmf

def calls(src):
    """[(name, prototype, [parameter names])] in libstmf.h's order."""
    header = read(os.path.join(src, "include", "libstmf.h"))
    res = []
    for m in CALL_RE.finditer(header):
        proto = re.sub(r"\s+", " ", m.group(0).strip())
        params = []
        for p in m.group(2).split(","):
            p = p.strip()
            pm = re.search(r"([A-Za-z_]\w*)\s*(\[\d*\])?$", p)
            if p and p != "void" and pm and not re.match(r"^(const\s+)?\w+\s*\**$", p):
                params.append(pm.group(1))
        res.append((m.group(1), proto, params))
    return res


def blocks(lines):
    """Markdown lines -> blocks (paragraphs, tables, lists, code blocks), blank lines between."""
    res, cur, in_code = [], [], False
    for line in lines:
        if line.strip().startswith("```"):
            in_code = not in_code
        if not line.strip() and not in_code:
            if cur:
                res.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        res.append(cur)
    return res


def section_parts(body):
    """A libstmf.md call section -> (description, return values, notes), as markdown lines.
    The first code block (the prototypes) is the SYNOPSIS; "Returns ..." paragraphs (and the
    table after a "Returns:" line) are the RETURN VALUES; "**Notes.**" and what follows it the
    NOTES."""
    desc, rets, notes = [], [], []
    bl = blocks(body)
    if bl and bl[0][0].strip().startswith("```"):
        bl = bl[1:]
    after_returns_colon = False
    for b in bl:
        first = b[0]
        if notes or first.startswith("**Notes.**"):
            if first.startswith("**Notes.**"):
                b = [first[len("**Notes.**"):].strip()] + b[1:]
            notes += b + [""]
            continue
        if after_returns_colon and first.strip().startswith("|"):
            rets += b + [""]
            after_returns_colon = False
            continue
        after_returns_colon = False
        j = next((k for k, l in enumerate(b) if re.match(r"^Return(s\b| codes)", l)), None)
        if j is not None:
            if j:
                desc += b[:j] + [""]
            rets += b[j:] + [""]
            after_returns_colon = b[-1].rstrip().endswith(":")
            continue
        desc += b + [""]
    return desc, rets, notes


def call_page(name, proto, params, sec_names, body, lib_common, all_calls):
    desc, rets, notes = section_parts(body)
    out = ["%s(3STMF) \"stmf\" \"STMF Library Functions\"" % name, ""]
    names = [name] + [k for k, v in LINKS.items() if v == name]
    if name not in SUMMARIES:
        raise SystemExit("gen_man.py: %s (include/libstmf.h) has no NAME line in SUMMARIES" % name)
    out += ["# NAME", "", esc(", ".join(names)) + " - " + esc(SUMMARIES[name]), ""]
    out += ["# SYNOPSIS", "", "```", "cc [ flag... ] file... -lstmf [ library... ]",
            "#include <libstmf.h>", ""]
    for n in names:
        out.append(next(p for c, p, _ in all_calls if c == n))
    out += ["```", ""]
    plist = []
    for n in names:
        for p in next(ps for c, _, ps in all_calls if c == n):
            if p not in plist:
                plist.append(p)
    if plist:
        out += ["# PARAMETERS", ""]
        for p in plist:
            out += ["*" + esc(p) + "*", "\t" + esc(PARAMETERS.get(p, "See DESCRIPTION.")), ""]
    out += ["# DESCRIPTION", ""]
    if len(sec_names) > 1:
        out += ["This page's text is shared by " + esc(", ".join(n + "()" for n in sec_names)) + ".", ""]
    out += md_to_scd(desc, 1)
    out += ["# RETURN VALUES", ""]
    errno_style = False
    if rets:
        out += md_to_scd(rets, 1)
    elif proto.startswith("void"):
        out += ["None.", ""]
    else:  # the values are named inside the DESCRIPTION's sentences: list them
        text = "\n".join(desc)
        codes = list(dict.fromkeys(re.findall(r"\bSTMF_(?:STATUS|ERROR)_[A-Z_]+\b", text)))
        if codes:
            out += ["As DESCRIPTION says, the call returns one of:", ""]
            out += ["- *" + esc(c) + "*" for c in codes] + [""]
        else:  # the errno convention (stmfArsctl, stmfArsop)
            errnos = list(dict.fromkeys(re.findall(r"\bE[A-Z]{2,}\b", text)))
            out += ["*0* on success; *-1* on failure, with *errno* set to one of (see DESCRIPTION):", ""]
            out += ["- *" + esc(c) + "*" for c in errnos] + [""]
            errno_style = True
    if not re.search(r"[Nn]o daemon|[Nn]othing is sent|without contacting", " ".join(desc + rets)) and \
            not proto.startswith("void") and not errno_style:
        out += md_to_scd(lib_common, 1)
    out += ["# ATTRIBUTES", "", "[[ *ATTRIBUTE TYPE*", ":[ *ATTRIBUTE VALUE*",
            "|  Interface Stability", ":  " + ("Uncommitted (not in COMSTAR)" if name in EXTENSIONS else "Committed"),
            "|  MT-Level", ":  Safe", ""]
    if notes:
        out += ["# NOTES", ""] + md_to_scd(notes, 1)
    seen = set(names)
    also = ["libstmf(3LIB)"]
    for m in re.finditer(r"\b(stmf[A-Z][A-Za-z]+)\b", "\n".join(body)):
        c = m.group(1)
        if c not in seen and any(c == x for x, _, _ in all_calls):
            seen.add(c)
            also.append(c + "(3STMF)")
    also += ["stmfadm(8)", "stmfd(8)"]
    out += ["# SEE ALSO", "", esc(", ".join(also)), ""]
    return "\n".join(out)


def libstmf_pages(src):
    """{page file name: scdoc text or ('.so', target)} for the 3STMF and 3LIB pages."""
    md = read(os.path.join(src, "docs", "libstmf.md")).splitlines()
    secs = md_sections(md, 2)
    all_calls = calls(src)
    by_name = {}
    for title, body in secs.items():
        for n in [t.strip() for t in title.split(",")]:
            by_name[n] = (title, body)
    # the codes every daemon-backed call can return (the introduction's paragraph)
    intro = md[1:next(i for i, l in enumerate(md) if l.startswith("## "))]
    use = secs["Using the library"]
    lib_common = []
    for j, l in enumerate(use):
        if l.startswith("Codes every daemon-backed function"):
            k = j
            while k < len(use) and use[k].strip():
                lib_common.append(use[k])
                k += 1
    pages = {}
    for name, proto, params in all_calls:
        if name in LINKS:
            pages[name + ".3stmf"] = (".so", "man3stmf/" + LINKS[name] + ".3stmf")
            continue
        if name not in by_name:
            raise SystemExit("gen_man.py: %s (include/libstmf.h) has no section in docs/libstmf.md" % name)
        title, body = by_name[name]
        sec_names = [t.strip() for t in title.split(",")]
        pages[name + ".3stmf"] = call_page(name, proto, params, sec_names, body, lib_common, all_calls)
    lib = ["libstmf(3LIB) \"stmf\" \"Interface Libraries\"", "", "# NAME", "",
           "libstmf - SCSI Target Mode Framework library", "", "# SYNOPSIS", "", "```",
           "cc [ flag... ] file... -lstmf [ library... ]", "#include <libstmf.h>", "```", "",
           "# DESCRIPTION", ""]
    lib += md_to_scd(intro, 1)
    for t in LIB_SECTIONS:
        lib += ["# " + esc(t.upper()), ""] + md_to_scd(secs[t], 2)
    lib += ["# INTERFACES", ""]
    lib += [esc(", ".join(n for n, _, _ in all_calls)), ""]
    lib += ["# SEE ALSO", "", esc(", ".join(n + "(3STMF)" for n, _, _ in all_calls) + ", stmfadm(8), stmfd(8)"), ""]
    pages["libstmf.3lib"] = "\n".join(lib)
    return pages


# ----------------------------------------------------------------------------------------

def outputs(src):
    """[(relative output path, scdoc text or ('.so', target))]."""
    res = []
    for path, name, sec in scd_pages(src):
        res.append(("man%s/%s.%s" % (sec[0], name, sec), path))
    for f, page in libstmf_pages(src).items():
        sec = f.rsplit(".", 1)[1]
        res.append(("man%s/%s" % (sec, f), page))
    return res


def main(argv):
    if len(argv) == 3 and argv[1] == "--list":
        for rel, _ in outputs(argv[2]):
            print(rel)
        return 0
    if len(argv) == 3 and argv[1] == "--calls":
        for n, _, _ in calls(argv[2]):
            print(n)
        return 0
    if len(argv) == 5 and argv[1] == "--scdoc":
        scdoc, src, out = argv[2:]
        for rel, page in outputs(src):
            dest = os.path.join(out, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            scd_dir = os.path.join(out, "scd")
            os.makedirs(scd_dir, exist_ok=True)
            if isinstance(page, tuple):
                text = page[0] + " " + page[1] + "\n"
                with open(dest, "w", encoding="utf-8") as f:
                    f.write(text)
                continue
            scd = expand(page) if os.path.isfile(page) else page
            with open(os.path.join(scd_dir, os.path.basename(rel) + ".scd"), "w", encoding="utf-8") as f:
                f.write(scd)
            r = subprocess.run([scdoc], input=scd.encode(), capture_output=True)
            if r.returncode != 0:
                sys.stderr.write("gen_man.py: scdoc failed on %s (intermediate: %s): %s\n" %
                                 (rel, os.path.join(scd_dir, os.path.basename(rel) + ".scd"), r.stderr.decode()))
                return 1
            with open(dest, "wb") as f:
                f.write(r.stdout)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
