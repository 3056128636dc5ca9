"""The networks and what defines them: the student (:mod:`.model`, image tower :mod:`.image_encoder`, text tower
:mod:`.lite_transformer`), the registry of configs (:mod:`.factory`, ``model_configs/*.json``), checkpoints,
the CLIP tokenizer and image transform (which fix the models' inputs), precise BatchNorm and the CLIP teacher.

Depends only on :mod:`mobileclip.utils`. Training, evaluation and export build on these; the package face
``mobileclip`` re-exports the everyday names (``create_model``, ``load_checkpoint``, ``get_tokenizer``, ...).
"""
