"""The autograder's pytest set-up: the whiteboard plugin gives `--submission`, markers and `nb`."""
pytest_plugins = ["whiteboard.grading.plugin"]
