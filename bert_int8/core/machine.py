"""The machine a figure came from: CPU model (name, and vendor, family, model and stepping), the
ISA flags that pick kernels, library versions.

Kernels, speed ratios and even trained weights differ between an AVX2-only CPU and one with
AVX-512 VNNI or AMX, so every metrics file that holds a figure records this, and code picks a
path (BF16 or not) by what this CPU has, never by what the last machine had.
"""

import os
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# The flags that decide which int8 / bf16 kernels run (Linux /proc/cpuinfo names).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


@lru_cache(maxsize=1)
def _cpuinfo():
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_name():
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_id():
    """The first CPU's vendor, family, model and stepping from /proc/cpuinfo, as strings ({} where
    there is none): a VM names Zen 2, 3, 4 and 5 alike "AMD EPYC", and these tell them apart."""
    wanted = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "stepping": "stepping"}
    found = {}
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in wanted and wanted[key.strip()] not in found:
            found[wanted[key.strip()]] = value.strip()
        if not line.strip() and found:  # the first processor's block is enough
            break
    return found


def cpu_id_words(found):
    """A cpu_id record as words: "AuthenticAMD family 25 model 17 stepping 1" ("" for {})."""
    keys = ("vendor", "family", "model", "stepping")
    return " ".join(f"{k} {found[k]}" if k != "vendor" else found[k] for k in keys if k in found)


def cpu_flags():
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def isa():
    """The kernel-picking flags this CPU has, in a fixed order."""
    flags = cpu_flags()
    return [f for f in ISA_FLAGS if f in flags]


def native_bf16():
    """True where the CPU computes in BF16 natively (AVX-512 BF16 or AMX-BF16); elsewhere a BF16
    model would run in emulation, whose timing says nothing, so BF16 is reported unsupported."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def versions(libraries=("torch",)):
    """Versions of transformers and of `libraries` (None where not installed)."""
    out = {}
    for name in ("transformers", *libraries):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment(libraries=("torch",)):
    """What metrics files record so that `dvc metrics diff` shows a machine change as one.
    `libraries`: whose versions to record; the stages that run every backend pass the
    registry's (bert_int8.backends.libraries()), which this module does not import, so that
    training does not depend on the runtimes' modules."""
    return {
        "cpu": cpu_name(),
        "cpu_id": cpu_id(),
        "isa": " ".join(isa()) or "none of " + " ".join(ISA_FLAGS),
        "logical_cpus": os.cpu_count(),
        "bf16": "native" if native_bf16() else "unsupported (no avx512_bf16 or amx_bf16)",
        **versions(libraries),
    }
