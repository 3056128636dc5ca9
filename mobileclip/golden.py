"""``python -m mobileclip.golden``: the command; its code lives in :mod:`export.golden`."""
from export.golden import main

if __name__ == "__main__":
    raise SystemExit(main())
