"""Truthful ratios: an image tower is set against another only at the same input resolution.

A student that reads 32-px images against a reference that reads 224-px ones does ~50x less work per image for
reasons that have nothing to do with the model; such a ratio (latency or MACs) is never shown. Every label of an
image tower names its resolution instead. Used by ``benchmarks.latency``, ``benchmarks.params`` and
``benchmarks.report`` (tables, summary lines and ``latency.png``).
"""
from __future__ import annotations


def comparable(row: dict, teacher_image_size: int | None) -> bool:
    """Whether ``row`` may be set against a teacher tower: text always; an image tower only at the teacher's
    input resolution (a 32-px student against a 224-px reference would compare different work)."""
    return row["tower"] != "image" or row.get("image_size") == teacher_image_size


def same_resolution(row: dict, teacher_row: dict | None) -> dict | None:
    return teacher_row if teacher_row and comparable(row, teacher_row.get("image_size")) else None


def tower_label(row: dict) -> str:
    """``image 224 px`` / ``text``: every table and plot names the image tower's input resolution."""
    return f"image {row['image_size']} px" if row["tower"] == "image" and row.get("image_size") else row["tower"]


def resolution_notes(rows: list[dict]) -> list[str]:
    """One line per student image tower whose resolution differs from the teacher's: why it has no ratio."""
    teacher = {r["image_size"] for r in rows if r["role"] == "teacher" and r["tower"] == "image"}
    notes = []
    for model, size in sorted({(r["model"], r["image_size"]) for r in rows if r["role"] == "student"
                               and r["tower"] == "image" and teacher and r["image_size"] not in teacher}, key=str):
        notes.append(f"{model}: image tower reads {size} px images, the teacher {'/'.join(map(str, sorted(teacher)))} "
                     f"px: no image speed-up or MAC ratio is given (it would compare different work)")
    return notes
