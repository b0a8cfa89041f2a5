"""Package discovery for setuptools (the metadata is in pyproject.toml): every equihls.*
package, plus equihls.ip_blocks, which pyproject.toml's package-dir maps to the top-level
ip_blocks/ folder (header files only, so find_packages cannot see it)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["equihls", "equihls.*"]) + ["equihls.ip_blocks"])
