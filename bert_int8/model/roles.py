"""Whose models: the teacher's (what train wrote, and every runtime's models of it) or the
student's (what distill wrote, and every runtime's models of that). Each role's models sit in
the backends' layout under a root of their own (bert_int8/backends/base.py); a student model's
name is the teacher model's name after "student_": student_fp32, student_onnx_int8, ...
"""

from pathlib import Path

from bert_int8.core import paths

TEACHER = None
STUDENT = "student"
CLASSICAL = "classical"  # the classical floor: a model of no role, named apart (not served)
ROLES = (TEACHER, STUDENT)
_ROOTS = {TEACHER: paths.MODELS, STUDENT: paths.STUDENT}


def of_path(path, subdirs):
    """Whose model a directory holds, by where it sits in the layout: student/<precision>, or
    student/<a runtime's subdir>/<precision> (`subdirs`: the runtimes' folders), as
    models_save/student/... or a copy of it for serving, is the student's."""
    parts = Path(path).parts
    if len(parts) >= 2 and parts[-2] == paths.STUDENT.name:
        return STUDENT
    if len(parts) >= 3 and parts[-3] == paths.STUDENT.name and parts[-2] in subdirs:
        return STUDENT
    return TEACHER


def root(role):
    """Where a role's models are laid out."""
    return _ROOTS[role]


def model_name(role, name):
    """A role's name for a runtime's model name (backends.model_name)."""
    return name if role is None else f"{role}_{name}"


def split(name):
    """(role, the runtime's model name) of a model name: student_onnx_int8 -> (student, onnx_int8)."""
    for role in ROLES:
        if role is not None and name.startswith(f"{role}_"):
            return role, name.removeprefix(f"{role}_")
    return TEACHER, name


def fp32_name(role):
    """The FP32 PyTorch model of a role: what the role's other models are compared with."""
    return model_name(role, "fp32")


def file_name(stage, role, suffix=".json"):
    """A stage's metrics file for a role: quantize.json, quantize_student.json."""
    return f"{stage}{'' if role is None else '_' + role}{suffix}"
