#!/usr/bin/env python3
"""
The library exports exactly its documented API: every function declared
with DBS_API in the installed headers (include/dbstreams/*.h and
include/dbstreams/sys/*.h) is a dynamic symbol of libdbstreams, and the
library exports nothing else. A function made DBS_API by mistake, or a
documented one that lost its DBS_API, fails here.

  check_symbols.py LIBRARY INCLUDE_DIR [NM]
"""
import os
import re
import subprocess
import sys

# Symbols the toolchain adds to every shared object.
TOOLCHAIN = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def declared(include_dir):
    names = {}
    for dirpath, _, files in os.walk(include_dir):
        for fn in sorted(files):
            if not fn.endswith(".h"):
                continue
            path = os.path.join(dirpath, fn)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            # Comments and the macro's own definition are no declarations.
            text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
            text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
            for m in re.finditer(r"\bDBS_API\b([^;{]*)", text):
                decl = re.sub(r"__attribute__\s*\(\(.*?\)\)", " ", m.group(1), flags=re.S)
                name = re.search(r"([A-Za-z_]\w*)\s*\(", decl)
                if not name:
                    sys.exit(f"{path}: cannot read the DBS_API declaration {decl.strip()!r}")
                names[name.group(1)] = os.path.relpath(path, include_dir)
    return names


def exported(library, nm):
    out = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms.add(parts[2].split("@")[0])
    return syms - TOOLCHAIN


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    library, include_dir = sys.argv[1], sys.argv[2]
    nm = sys.argv[3] if len(sys.argv) > 3 else "nm"
    want = declared(include_dir)
    have = exported(library, nm)
    # Sanitizer builds add their own hooks; they are not the API.
    have = {s for s in have if not s.startswith(("__asan", "__ubsan", "__sanitizer", "__lsan"))}
    missing = sorted(set(want) - have)
    extra = sorted(have - set(want))
    for name in missing:
        print(f"{want[name]}: {name} is declared DBS_API but the library does not export it")
    for name in extra:
        print(f"{name}: exported by the library but declared DBS_API in no installed header")
    print(f"{len(want)} documented functions, {len(have)} exported symbols, "
          f"{len(missing) + len(extra)} difference(s)")
    return 1 if missing or extra else 0


if __name__ == "__main__":
    sys.exit(main())
