"""The parts of ``mobileclip.train``: config, phase schedule, KD module, training data, HF proxy teacher,
teacher cache, run setup and checkpoint state. ``mobileclip.cache_teacher`` shares the data and cache modules."""
