"""Specialist pages: choosing a model and building a dataset (selection), and training runs (training)."""
