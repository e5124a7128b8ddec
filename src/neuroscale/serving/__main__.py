"""`python -m neuroscale.serving ...`: the model-server process the engine starts per revision.

With `--spare FORMAT` first, it is a warm spare (`serving.spare`) that forks such a server when the
engine hands it a model; with `--shared FORMAT` first, one process serving many models (`serving.shared`).
"""

import sys

from neuroscale.serving import server, shared, spare

_MODES = {spare.SPARE_FLAG: spare.main, shared.SHARED_FLAG: shared.main}
raise SystemExit(_MODES.get(sys.argv[1] if len(sys.argv) > 1 else "", server.main)())
