"""``python -m mobileclip.multilingual_eval``: the command; its code lives in :mod:`mobileclip.multilingual.evaluate`."""
from mobileclip.multilingual.evaluate import main

if __name__ == "__main__":
    main()
