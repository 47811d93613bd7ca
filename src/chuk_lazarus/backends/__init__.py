"""Backends own a model and generate tokens; see `base.Backend`."""
