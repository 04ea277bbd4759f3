"""``python -m fdunlearn.course``: see ``fdunlearn.course``."""

import sys

from fdunlearn.course import main

sys.exit(main())
