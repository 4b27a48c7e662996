"""``python -m reprolib`` is the ``reprolib`` command."""

import sys

from reprolib.cli import main

sys.exit(main())
