"""Doctor: name the root cause of a broken platform, with the fix, in one command.

The symptom is usually far from the cause (an Application `Unknown` because the
repo-server crashed; every sync denied because a webhook lost its endpoints).
Doctor reads one snapshot of state (cluster, embedded platform or repository),
runs small pure rules over an index of it, then correlates findings so the
one to fix first prints first and says which other findings it explains.
"""
