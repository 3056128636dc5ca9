"""``python -m mobileclip.data``: the command; its code lives in :mod:`mobileclip.data.datasets`."""
from mobileclip.data.datasets import main

if __name__ == "__main__":
    main()
