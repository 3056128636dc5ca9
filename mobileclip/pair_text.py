"""``python -m mobileclip.pair_text``: the command; its code lives in :mod:`mobileclip.multilingual.pair_text`."""
from mobileclip.multilingual.pair_text import main

if __name__ == "__main__":
    main()
