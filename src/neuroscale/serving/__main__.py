"""`python -m neuroscale.serving ...`: the model-server process the engine starts per revision."""

from neuroscale.serving.server import main

raise SystemExit(main())
