"""``python -m mobileclip.train``: the command; its code lives in :mod:`mobileclip.training.loop`."""
from mobileclip.training.loop import main

if __name__ == "__main__":
    main()
