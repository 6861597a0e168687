"""nbgrader's configuration for the Whiteboard course directory (this folder)."""
c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "whiteboard"
c.CourseDirectory.root = "."
# Hidden test cells grade the saved notebook in an isolated worker; the digits exercise trains a
# small network, so a cell may take a minute or two.
c.ExecutePreprocessor.timeout = 600
c.Execute.timeout = 600
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError"}
