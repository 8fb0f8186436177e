"""The machine record (bert_int8/core/machine.py) from a /proc/cpuinfo text written here."""

from bert_int8.core import machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu avx2 avx512f avx512_vnni

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Other
stepping\t: 8
"""


def test_the_cpu_is_recorded_by_vendor_family_model_and_stepping(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo", lambda: CPUINFO)
    found = machine.cpu_id()
    assert found == {"vendor": "AuthenticAMD", "family": "25", "model": "17", "stepping": "1"}  # the first CPU's
    assert machine.cpu_id_words(found) == "AuthenticAMD family 25 model 17 stepping 1"
    env = machine.environment(libraries=())
    assert env["cpu"] == "AMD EPYC" and env["cpu_id"] == found and env["isa"] == "avx2 avx512f avx512_vnni"
    monkeypatch.setattr(machine, "_cpuinfo", lambda: "")  # no /proc/cpuinfo (not Linux)
    assert machine.cpu_id() == {} and machine.cpu_id_words({}) == ""
