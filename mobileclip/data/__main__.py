"""``python -m mobileclip.data``: the command; its code lives in :mod:`mobileclip.data.prepare`."""
from mobileclip.data.prepare import main

if __name__ == "__main__":
    main()
