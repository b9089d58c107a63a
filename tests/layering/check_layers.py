#!/usr/bin/env python3
"""
The layering of the source tree, checked from the #include lines
(docs/architecture.md):

- lib/core/ includes no plugin's header (lib/sources, lib/hubs,
  lib/targets), nothing of the layers above it (lib/sql, lib/verify), and
  no database or hub client library;
- lib/sql/ and lib/verify/ include no plugin's header;
- lib/fault/ (the fault points tests use, for the core and the built-in
  plugins alike) includes nothing of the library;
- a plugin (lib/sources/X, lib/hubs/X, lib/targets/X) includes no other
  plugin's header, nothing of lib/core/ and nothing of lib/verify/: it is
  written against the public headers and the SDK (include/dbstreams/sys/),
  and may use the shared layer lib/sql/;
- server/ and cli/ include the public headers (dbstreams/*.h) and their
  own files only;
- a plugin built outside the library (the template in examples/plugin/,
  the probe plugins of tests/conformance/) includes the public headers,
  the SDK and its own files only: nothing of lib/;
- no source file of lib/, server/ or cli/ is longer than MAX_LINES: a
  file that grows past it is split along its own sections.

  check_layers.py ROOT        check the tree at ROOT; exit 1 on a violation
  check_layers.py --self-test check that each rule catches what it forbids
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
PLUGIN_KINDS = ("sources", "hubs", "targets")
# Plugins built like one from outside: the SDK alone.
OUTSIDE_PLUGINS = ("examples/plugin/", "tests/conformance/probe.")
LIB_DIRS = ("core", "sql", "verify", "fault") + PLUGIN_KINDS
CLIENT_LIBS = ("libpq-fe.h", "mysql.h", "mariadb_rpl.h", "nats/nats.h", "civetweb.h")
MAX_LINES = 900
SIZED = ("lib/", "server/", "cli/")


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for m in INCLUDE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield line, m.group(1), m.group(2)


def line_count(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return sum(1 for _ in f)


def plugin_of(rel):
    """('sources', 'mysql') for lib/sources/mysql/..., else None."""
    parts = rel.split("/")
    if len(parts) >= 4 and parts[0] == "lib" and parts[1] in PLUGIN_KINDS:
        return parts[1], parts[2]
    return None


def target_plugin(name):
    """The plugin a quoted include such as "sources/mysql/binlog.h" names."""
    parts = name.split("/")
    if len(parts) >= 3 and parts[0] in PLUGIN_KINDS:
        return parts[0], parts[1]
    return None


def violations(root):
    found = []
    for top in ("lib", "server", "cli", "examples/plugin", "tests/conformance"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for fn in sorted(files):
                if not fn.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, fn)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                lines = line_count(path)
                if rel.startswith(SIZED) and lines > MAX_LINES:
                    found.append(f"{rel}: {lines} lines, more than {MAX_LINES}: split it "
                                 "along its sections")
                for line, kind, name in includes(path):
                    why = judge(rel, kind, name, root)
                    if why:
                        close = ">" if kind == "<" else '"'
                        found.append(f"{rel}:{line}: #include {kind}{name}{close}: {why}")
    return found


def judge(rel, kind, name, root):
    if rel.startswith("lib/core/"):
        if kind == '"' and target_plugin(name):
            return "the core includes a plugin's header"
        if kind == '"' and name.split("/")[0] in ("sql", "verify") + PLUGIN_KINDS:
            return "the core includes a layer above it"
        if name in CLIENT_LIBS:
            return "the core talks to no database or hub itself"
        return None
    if rel.startswith("lib/fault/"):
        if kind == '"' and not name.startswith("fault/"):
            return "the fault points depend on nothing of the library"
        return None
    if rel.startswith(("lib/sql/", "lib/verify/")):
        if kind == '"' and target_plugin(name):
            return "the shared layer uses no plugin"
        return None
    me = plugin_of(rel)
    if me:
        other = target_plugin(name) if kind == '"' else None
        if other and other != me:
            return f"a plugin includes another plugin's header ({other[0]}/{other[1]})"
        if kind == '"' and name.split("/")[0] in ("core", "verify"):
            return "a plugin uses the SDK (dbstreams/sys/), not the core's internals"
        return None
    if rel.startswith(OUTSIDE_PLUGINS):
        if kind == '"':
            here = os.path.join(root, os.path.dirname(rel), name)
            if "/" in name or not os.path.isfile(here):
                return "a plugin from outside the library uses the public headers and the SDK"
        elif name.split("/")[0] in LIB_DIRS:
            return "a plugin from outside the library uses the public headers and the SDK"
        return None
    if rel.startswith(("server/", "cli/")):
        if kind == "<" and name.startswith("dbstreams/"):
            if "/" in name[len("dbstreams/"):]:
                return "server and CLI use the public API, not the plugin SDK"
            return None
        if kind == '"':
            here = os.path.join(root, os.path.dirname(rel), name)
            if "/" in name or not os.path.isfile(here):
                return "server and CLI include the public headers and their own files only"
        return None
    return None


CASES = [
    ("lib/core/stream.c", '#include "sources/mysql/binlog.h"\n', True),
    ("lib/core/stream.c", '#include "sql/target.h"\n', True),
    ("lib/core/stream.c", "#include <libpq-fe.h>\n", True),
    ("lib/core/stream.c", '#include "core/core.h"\n#include <dbstreams/plugin.h>\n', False),
    ("lib/sql/target.c", '#include "targets/mysql/my_target.h"\n', True),
    ("lib/sql/target.c", '#include "sql/checkpoint.h"\n#include <libpq-fe.h>\n', False),
    ("lib/targets/mysql/target.c", '#include "targets/postgresql/pg_target.h"\n', True),
    ("lib/targets/mysql/target.c", '#include "sources/mysql/binlog.h"\n', True),
    ("lib/targets/mysql/target.c", '#include "core/core.h"\n', True),
    ("lib/hubs/nats/acks.c", '#include "fault/fault.h"\n', False),
    ("lib/fault/fault.c", '#include "core/core.h"\n', True),
    ("lib/fault/fault.c", '#include "fault/fault.h"\n#include <stdatomic.h>\n', False),
    ("lib/targets/mysql/target.c",
     '#include "targets/mysql/my_target.h"\n#include "sql/target.h"\n'
     "#include <dbstreams/sys/buf.h>\n", False),
    ("server/routes.c", '#include "core/core.h"\n', True),
    ("server/routes.c", "#include <dbstreams/sys/buf.h>\n", True),
    ("server/routes.c", '#include "missing.h"\n', True),
    ("server/routes.c", '#include "routes.h"\n#include <dbstreams/dbstreams.h>\n', False),
    ("examples/plugin/jsonl_target.c", '#include "core/core.h"\n', True),
    ("examples/plugin/jsonl_target.c", "#include <libpq-fe.h>\n", False),
    ("examples/plugin/jsonl_target.c", "#include <core/core.h>\n", True),
    ("examples/plugin/jsonl_target.c", "#include <nats/nats.h>\n", False),
    ("tests/conformance/probe.c",
     '#include "routes.h"\n#include <dbstreams/sys/host.h>\n#include <sys/stat.h>\n', False),
    ("lib/core/stream.c", "int x;\n" * (MAX_LINES + 1), True),
    ("lib/core/stream.c", "int x;\n" * MAX_LINES, False),
    ("server/routes.c", "int x;\n" * (MAX_LINES + 1), True),
    ("cli/main.c", "int x;\n" * (MAX_LINES + 1), True),
    ("tests/conformance/probe.c", "int x;\n" * (MAX_LINES + 1), False),
]


def self_test():
    failed = 0
    for rel, text, bad in CASES:
        with tempfile.TemporaryDirectory() as root:
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path))
            with open(path, "w") as f:
                f.write(text)
            with open(os.path.join(os.path.dirname(path), "routes.h"), "w") as f:
                f.write("")
            got = violations(root)
            if bool(got) != bad:
                failed += 1
                print(f"self-test: {rel} with {text.strip()!r}: expected "
                      f"{'a violation' if bad else 'none'}, got {got}")
    print(f"self-test: {len(CASES) - failed} of {len(CASES)} cases as expected")
    return 1 if failed else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    found = violations(argv[1])
    for v in found:
        print(v)
    print(f"{len(found)} layering violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
