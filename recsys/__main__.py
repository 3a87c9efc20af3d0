"""`python -m recsys …`: the headless front door (see recsys.cli)."""

import sys

from recsys.cli import main

sys.exit(main())
