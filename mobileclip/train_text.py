"""``python -m mobileclip.train_text``: the command; its code lives in :mod:`mobileclip.multilingual.train_text`."""
from mobileclip.multilingual.train_text import main

if __name__ == "__main__":
    main()
