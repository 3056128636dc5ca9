"""The floor everything stands on: errors, atomic file writes, input validation, run locks, third-party log
noise, the torchvision import guard, finite checks, private-API shims and the CLI options every command shares.

Nothing here imports another ``mobileclip`` subpackage (``tests/mobileclip/test_layout.py`` checks the order
utils < models < data < evaluation < training < multilingual < commands). This ``__init__`` imports nothing:
``mobileclip/__init__`` runs :mod:`.torchvision_guard` before anything imports torchvision.
"""
