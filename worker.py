"""`python worker.py`: run one payflow worker with the PAYFLOW_* settings."""

from payflow.cli.main import run_worker

if __name__ == "__main__":
    run_worker()
