#!/usr/bin/env python3
"""
The installed headers compile on their own: each of include/dbstreams/*.h
and include/dbstreams/sys/*.h, included alone (and twice), as C11 with
-pedantic-errors and as C++11, with every warning an error; and
DBS_STAT_INIT initialises a dbs_stat in both languages.

  check_headers.py INCLUDE_DIR --cc CC... --cxx CXX...
"""
import os
import subprocess
import sys
import tempfile

FLAGS = ["-Wall", "-Wextra", "-Werror", "-pedantic-errors", "-fsyntax-only"]
LANGS = (("c", "C11", ["-std=c11", "-x", "c"]), ("cxx", "C++11", ["-std=c++11", "-x", "c++"]))


def headers(include_dir):
    found = []
    for dirpath, _, files in os.walk(include_dir):
        for fn in sorted(files):
            if fn.endswith(".h"):
                found.append(os.path.relpath(os.path.join(dirpath, fn), include_dir))
    return sorted(found)


def compile_text(cmd, std_args, include_dir, text, scratch):
    path = os.path.join(scratch, "unit.src")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run(cmd + std_args + FLAGS + ["-I", include_dir, path],
                       capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    args = sys.argv[1:]
    if len(args) < 3 or "--cc" not in args or "--cxx" not in args:
        sys.exit(__doc__)
    include_dir = args[0]
    i, j = args.index("--cc"), args.index("--cxx")
    compilers = {"c": args[i + 1:j] if i < j else args[i + 1:],
                 "cxx": args[j + 1:] if j > i else args[j + 1:i]}
    units = [(h, f"#include <{h}>\n#include <{h}>\n") for h in headers(include_dir)]
    if not units:
        sys.exit(f"no headers under {include_dir}")
    units.append(("DBS_STAT_INIT",
                  "#include <dbstreams/dbstreams.h>\n"
                  "int main(void) { dbs_stat st = DBS_STAT_INIT; return (int)st.version - "
                  "DBS_STAT_VERSION; }\n"))
    failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in units:
            for key, label, std_args in LANGS:
                rc, out = compile_text(compilers[key], std_args, include_dir, text, scratch)
                if rc:
                    failed += 1
                    print(f"{name} as {label}: does not compile on its own\n{out}\n")
    total = len(units) * len(LANGS)
    print(f"{total - failed} of {total} compilations clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
