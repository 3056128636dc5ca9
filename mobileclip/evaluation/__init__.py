"""Measuring encoders: the :class:`~.encoders.Encoder` protocol and ``load_encoder`` (student, teacher;
export folders load through ``export.runtime``), zero-shot classification, retrieval and student-teacher
agreement (:mod:`.metrics`).

Depends on utils, models and data; training (the zero-shot score after a run) and the commands build on it.
"""
