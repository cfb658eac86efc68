"""The ``calm`` command line: one module per subcommand, dispatched by :mod:`napari_calm.cli.main`."""
