"""Where image-text pairs come from: caption CSVs, class folders, tar shards, the shared data archives
(:mod:`.datasets`), the synthetic demo data set (:mod:`.synthetic`) and the prompt templates (:mod:`.templates`:
class-folder captions are made from them, and zero-shot evaluation reuses them).

Depends on :mod:`mobileclip.utils` and :mod:`mobileclip.models`. ``python -m mobileclip.data`` is the
data-preparation command (``__main__``).
"""
