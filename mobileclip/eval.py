"""``python -m mobileclip.eval``: the command; its code lives in :mod:`mobileclip.evaluation.metrics`."""
from mobileclip.evaluation.metrics import main

if __name__ == "__main__":
    main()
