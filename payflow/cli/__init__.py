"""The `payflow` command (`payflow.cli.main:main`), one module per command group; shared output
helpers in `output`. Group modules never import `main`."""
