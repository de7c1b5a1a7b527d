"""edge-anonymize's gateway runtime: wire frames in, anonymized windows out. Never imports TensorFlow."""

__version__ = "0.1.0"
