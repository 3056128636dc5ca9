"""``python -m mobileclip.cache_teacher``: the command; its code lives in :mod:`mobileclip.training.cache_teacher`."""
from mobileclip.training.cache_teacher import main

if __name__ == "__main__":
    main()
