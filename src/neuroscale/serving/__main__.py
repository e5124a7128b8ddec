"""`python -m neuroscale.serving ...`: the model-server process the engine starts per revision.

With `--spare FORMAT` first, it is a warm spare (`serving.spare`) that becomes such a server when the
engine hands it a model.
"""

import sys

from neuroscale.serving import server, spare

raise SystemExit(spare.main() if sys.argv[1:2] == [spare.SPARE_FLAG] else server.main())
