"""Knowledge-distillation training (``python -m mobileclip.train``): :mod:`.config` (``TrainConfig``, whose fields
are the CLI's defaults), :mod:`.loop` (``train(cfg)``), a run's setup and state (:mod:`.run`, :mod:`.state`),
one optimizer step (:mod:`.step`), the phase schedule, the KD module and losses, DDP gathering, feature-cached
accumulation, precision, resuming, training data, the HF proxy teacher, and teacher caches (:mod:`.cache_teacher`
writes them, :mod:`.teacher_cache` / :mod:`.shard_cache` read them).

Stands on utils, models, data and evaluation (the zero-shot score at the end of a run); multilingual training
reuses its schedule and losses.
"""
