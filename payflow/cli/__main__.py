"""`python -m payflow.cli …`: how the dev stack starts its API and worker with this interpreter."""

from payflow.cli.main import main

main()
