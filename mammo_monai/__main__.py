"""``python -m mammo_monai ...`` is the same as the ``mammo-monai`` command."""

import sys

from .cli import main

sys.exit(main())
