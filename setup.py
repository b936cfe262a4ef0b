"""The compiled core, `gentrace._speedups`: optional, so an install without a C compiler still works.

Everything else about the package is in setup.cfg and pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gentrace._speedups",
            sources=["gentrace/_speedups.c", "gentrace/_render.c", "gentrace/_clock.c"],
            depends=["gentrace/_speedups.h"],
            optional=True,
        )
    ]
)
