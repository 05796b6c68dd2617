"""`python -m dashboards`, the same as `python dashboards/generate.py`."""

import sys

from dashboards.generate import main

sys.exit(main())
