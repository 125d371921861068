"""The kernel side: find the Jupyter server, use keys, hide their values."""
