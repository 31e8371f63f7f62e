"""``python -m eos``: see :mod:`eos.cli`."""

import sys

from eos.cli import main

sys.exit(main())
