"""The package list is derived from the folders, never kept by hand.

The product brief fixes the top-level folders (engine/, console/, catalog/, themes/);
they install as one namespace, ``tenantops.*``. pyproject.toml cannot express
"find_packages under each folder, renamed", so this file does only that; everything
else about the distribution lives in pyproject.toml.
"""
from setuptools import find_namespace_packages, setup

TOPS = ("engine", "console", "catalog", "themes")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for top in TOPS:
        name = f"tenantops.{top}"
        packages.append(name)
        package_dir[name] = top
        # namespace search so data folders (catalog units, migration versions) ship too
        packages += [f"{name}.{sub}" for sub in find_namespace_packages(top, exclude=["*__pycache__*"])]
    return packages, package_dir


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import _packages
    PACKAGES, PACKAGE_DIR = _packages()
    setup(packages=PACKAGES, package_dir=PACKAGE_DIR)
