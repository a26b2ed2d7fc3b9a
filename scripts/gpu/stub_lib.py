#!/usr/bin/env python3
"""Write a stand-in for a shared library: the same SONAME and the same
exported symbols (functions that abort, data of the same size), under the
same symbol versions, and nothing else.

FFmpeg's libraries as Debian builds them are linked against every codec,
filter and protocol library it packages (speech synthesis, SVG, AV1
encoders, ICU's 31 MB of data...), and bound at load time (BIND_NOW): each
must be there for the loader, though stylize never calls one. The GPU
bundle (scripts/gpu-bundle.sh) carries these stand-ins in their place so
that it fits the device tool's 64 MiB. A stand-in function returns 0
(NULL): FFmpeg asks some of them at start for their version and
capabilities (libaom, libvpx: codec tables built for every codec), and
takes the answer as "nothing there"; no other call reaches one on the GPU
check's H.264 clips.

    stub_lib.py REAL.so OUT_DIR     (writes OUT_DIR/<soname>)
"""
import pathlib
import re
import subprocess
import sys
import tempfile


LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def main() -> None:
    real, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    dyn = subprocess.run(["readelf", "-dW", str(real)], capture_output=True, text=True, check=True).stdout
    soname = re.search(r"\(SONAME\)\s+Library soname: \[(.+)\]", dyn).group(1)
    syms = subprocess.run(["readelf", "--dyn-syms", "-W", str(real)], capture_output=True, text=True, check=True).stdout
    functions, objects, versions = {}, {}, {}
    # Older versions of a symbol (name@V beside name@@W): aliases bound to
    # their version with .symver.
    aliases = []
    for line in syms.splitlines():
        parts = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit() or parts[6] in ("UND", "ABS"):
            continue
        kind, bind, name = parts[3], parts[4], parts[7]
        if bind not in ("GLOBAL", "WEAK") or kind not in ("FUNC", "OBJECT", "IFUNC", "TLS"):
            continue
        base, _, version = name.partition("@")
        default = version.startswith("@") or not version
        version = version.lstrip("@")
        # The linker's own symbols (old libraries export them) come with
        # any shared library anyway.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", base) or base in LINKER_SYMBOLS:
            continue
        if not default:
            aliases.append((base, version, kind))
            versions.setdefault(version, set())
            continue
        if version:
            versions.setdefault(version, set()).add(base)
        size = int(parts[2], 0) if parts[2].isdigit() or parts[2].startswith("0x") else 8
        (objects if kind in ("OBJECT", "TLS") else functions)[base] = max(size, 1)
    c = []
    for f in sorted(functions):
        c.append(f"long {f}(void) {{ return 0; }}")
    for o, size in sorted(objects.items()):
        c.append(f"char {o}[{size}] __attribute__((aligned(16)));")
    for n, (base, version, kind) in enumerate(aliases):
        alias = f"stub_alias_{n}"
        if kind in ("OBJECT", "TLS"):
            c.append(f"char {alias}[64] __attribute__((aligned(16)));")
        else:
            c.append(f"long {alias}(void) {{ return 0; }}")
        c.append(f'__asm__(".symver {alias},{base}@{version}");')
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "stub.c"
        src.write_text("\n".join(c) + "\n")
        cmd = ["cc", "-shared", "-fPIC", "-O0", "-w", "-o", str(out_dir / soname), str(src), f"-Wl,-soname,{soname}"]
        if versions:
            script = pathlib.Path(tmp) / "versions.map"
            # Every version node the real library defines (even empty ones,
            # since users may require them), in the order readelf lists.
            defs = subprocess.run(["readelf", "-VW", str(real)], capture_output=True, text=True).stdout
            nodes = []
            section = defs.split("Version definition section")[1] if "Version definition section" in defs else ""
            for m in re.finditer(r"Name: (\S+)", section.split("Version needs section")[0]):
                if m.group(1) != soname and m.group(1) not in nodes:
                    nodes.append(m.group(1))
            for v in versions:
                if v not in nodes:
                    nodes.append(v)
            body = lambda v: "global: " + "".join(f"{s}; " for s in sorted(versions[v])) if versions.get(v) else ""
            script.write_text("".join(f"{v} {{ {body(v)}}};\n" for v in nodes))
            cmd.append(f"-Wl,--version-script={script}")
        subprocess.run(cmd, check=True)
    print(out_dir / soname)


if __name__ == "__main__":
    main()
