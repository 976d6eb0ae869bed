from setuptools import find_packages, setup

setup(
    name="mytorch",
    version="0.1.0",
    description="A NumPy deep-learning library with a tape-based reverse-mode autograd engine, "
                "built as a complete homework kit (reference, autograder, tests, handout).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mytorch", "mytorch.*", "autograder", "autograder.*"]),
    python_requires=">=3.9",
    install_requires=["numpy>=1.23"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "demo": ["scikit-learn", "matplotlib"],
        # runs docs/notebooks/differentiation.ipynb in a kernel (hw_tests/test_notebook.py), plots inline
        "notebook": ["nbclient>=0.7", "nbformat>=5", "ipykernel>=6", "matplotlib"],
    },
)
