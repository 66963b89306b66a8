"""Package metadata for btlstm (tool configuration lives in pyproject.toml)."""

from setuptools import find_packages, setup

setup(
    name="btlstm",
    version="0.1.0",
    description="Walk-forward LSTM forecasting inside Backtrader: indicators, strategies, reports",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The repository folder strategies/ ships as btlstm.strategies: btlstm claims no
    # top-level name but its own (a user's strategies.py or strategies/ stays theirs).
    packages=find_packages(include=["btlstm", "btlstm.*"]) + ["btlstm.strategies"],
    package_dir={"btlstm.strategies": "strategies"},
    install_requires=[
        "backtrader>=1.9.76",
        "tensorflow>=2.16",  # Keras 3
        "keras>=3.0",
        "pandas>=2.0",
        "numpy>=1.24",
        "yfinance>=0.2.30",
        "matplotlib>=3.5",  # backtrader plotting + reports, headless (Agg)
        "scipy>=1.9",  # rank correlations
        "tqdm>=4.60",  # CLI progress bar (btlstm.progress)
        "lightgbm>=4",  # StockRanker (btlstm.learners.ranker)
        "statsmodels>=0.14",  # HAC standard errors, multiple-testing corrections (significance)
        "arch>=6",  # stationary bootstrap, SPA, StepM (btlstm.significance)
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "dev": ["pytest>=7", "hypothesis>=6", "ruff>=0.4"],
        # btlstm sweep --engine ray (btlstm.sweep); not in "test": the Ray test is slow
        "ray": ["ray>=2.9"],
    },
    entry_points={"console_scripts": ["btlstm=btlstm.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Office/Business :: Financial :: Investment",
    ],
)
