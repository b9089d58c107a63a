#!/usr/bin/env python3
"""
Install the library to a temporary prefix (meson install --destdir) and
build consumer.c against it through pkg-config alone, as C11 and as C++11,
then run both. Also checks that dbstreams.pc hands a consumer only the
include directory and -ldbstreams (the client libraries libdbstreams
links are private to it).

  check_install.py BUILD_DIR CONSUMER_C --cc CC... --cxx CXX... [--sanitize LIST]
"""
import glob
import os
import shlex
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        print(f"failed: {shlex.join(cmd)}\n{r.stdout}{r.stderr}")
        sys.exit(1)
    return r.stdout


def split_args(args):
    opts, key = {"pos": []}, "pos"
    for a in args:
        if a in ("--cc", "--cxx", "--sanitize"):
            key = a[2:]
            opts[key] = []
        else:
            opts[key].append(a)
    return opts


def main():
    o = split_args(sys.argv[1:])
    if len(o["pos"]) != 2 or not o.get("cc") or not o.get("cxx"):
        sys.exit(__doc__)
    build, consumer = o["pos"]
    sanitize = [s for s in o.get("sanitize", []) if s and s != "none"]
    extra = ["-fsanitize=" + ",".join(sanitize)] if sanitize else []
    with tempfile.TemporaryDirectory(prefix="dbs-install-") as dest:
        run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest])
        pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "dbstreams.pc"), recursive=True)
        if len(pcs) != 1:
            sys.exit(f"expected one installed dbstreams.pc, found {pcs}")
        env = dict(os.environ, PKG_CONFIG_LIBDIR=os.path.dirname(pcs[0]),
                   PKG_CONFIG_SYSROOT_DIR=dest)
        env.pop("PKG_CONFIG_PATH", None)
        cflags = shlex.split(run(["pkg-config", "--cflags", "dbstreams"], env=env))
        libs = shlex.split(run(["pkg-config", "--libs", "dbstreams"], env=env))
        # Only what a consumer of the public headers needs.
        stray = [f for f in cflags if not (f.startswith("-I") and f[2:].startswith(dest))]
        stray += [f for f in libs if f != "-ldbstreams" and
                  not (f.startswith("-L") and f[2:].startswith(dest))]
        if stray:
            sys.exit(f"dbstreams.pc gives a consumer more than it needs: {stray}")
        libdirs = [f[2:] for f in libs if f.startswith("-L")]
        run_env = dict(os.environ, LD_LIBRARY_PATH=":".join(libdirs))
        for label, compiler, lang in (("C11", o["cc"], ["-x", "c", "-std=c11"]),
                                      ("C++11", o["cxx"], ["-x", "c++", "-std=c++11"])):
            exe = os.path.join(dest, "consumer-" + label.lower().replace("+", "x"))
            run(compiler + lang + ["-Wall", "-Wextra", "-Werror", "-pedantic"] + extra + cflags +
                [consumer, "-x", "none"] + libs + extra + ["-o", exe])
            out = run([exe], env=run_env)
            print(f"{label}: {out.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
