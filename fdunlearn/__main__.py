"""Entry point: ``python -m fdunlearn``."""

import sys

from fdunlearn.cli import main

sys.exit(main())
