"""`python -m pytest_seccomp`."""

import sys

from .cli import main

sys.exit(main())
