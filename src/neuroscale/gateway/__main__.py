"""`python -m neuroscale.gateway`."""

import sys

from neuroscale.gateway.server import main

sys.exit(main())
