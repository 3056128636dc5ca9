"""Multilingual text students: parallel sentence files, text-only teachers and losses, the text-only checkpoint,
training (:mod:`.train_text`), evaluation (:mod:`.evaluate`, prompts per language) and pairing a text student
with an image student (:mod:`.pair_text`).

The top library floor: it reuses the training schedule and losses, the evaluation metrics and the models.
"""
