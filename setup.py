"""What pyproject.toml cannot say: the repository's notebooks/ ship inside the package.

notebooks/ stays the one copy (JupyterLab and papermill use it in a clone); the wheel maps it to
``segkit/notebooks/`` so ``segkit report`` and ``segkit notebooks DIR`` find it after ``pip install``.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["segkit*"]) + ["segkit.notebooks"],
    package_dir={"segkit.notebooks": "notebooks"},
    package_data={"segkit": ["profiles/*.yaml", "report/*.html", "report/*.css"], "segkit.notebooks": ["*.ipynb"]},
)
