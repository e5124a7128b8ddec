"""`python -m neuroscale.portal`: run the portal as its own process."""

from neuroscale.portal.main import run

run()
