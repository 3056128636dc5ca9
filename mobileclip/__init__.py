"""mobileclip-kd: small CLIP students (MobileNetV3-Large + Lite Transformer) distilled from ViT-B/32.

The package face: the everyday names of the models floor (``__all__``, documented in docs/training_api.md).
Everything else is imported from its subpackage -- utils, models, data, evaluation, training, multilingual --
and nothing inside the package imports this face (tests/mobileclip/test_layout.py).
"""
from .utils.logs import quiet_known_noise as _quiet_known_noise
from .utils.torchvision_guard import import_torchvision as _import_torchvision

_quiet_known_noise()
_import_torchvision()  # before anything else imports torchvision (see _torchvision.py)

from .models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from .utils.errors import MobileClipError  # noqa: E402
from .models.factory import DEFAULT_MODEL, create_model, get_model_config, list_models  # noqa: E402
from .models.model import MobileCLIP, count_parameters, tower_parameters  # noqa: E402
from .models.teacher import RANDOM_VIT_B_32, Teacher, load_teacher  # noqa: E402
from .models.tokenizer import Tokenizer, get_tokenizer  # noqa: E402
from .models.transform import image_transform  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "DEFAULT_MODEL", "MobileCLIP", "MobileClipError", "RANDOM_VIT_B_32", "Teacher", "Tokenizer",
    "count_parameters", "create_model", "get_model_config", "get_tokenizer", "image_transform",
    "list_models", "load_checkpoint", "load_teacher", "read_checkpoint", "save_checkpoint", "tower_parameters",
]
