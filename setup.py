"""The one compiled module, which pyproject.toml cannot declare without an experimental table: the shadow
worker's per-copy work (src/neuroscale/gateway/_shadowjoin.c says why it is C). Everything else is in
pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("neuroscale.gateway._shadowjoin", ["src/neuroscale/gateway/_shadowjoin.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])])
