"""``python -m cmim_lab.cli`` (the entry point torchrun starts: ``torchrun ... -m cmim_lab.cli train``)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
