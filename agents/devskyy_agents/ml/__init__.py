"""ML tasks. The only package that imports scikit-learn, pandas and skops."""
