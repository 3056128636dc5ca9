"""``python -m mobileclip.eval``: the command; its code lives in :mod:`mobileclip.evaluation.evaluate`."""
from mobileclip.evaluation.evaluate import main

if __name__ == "__main__":
    main()
