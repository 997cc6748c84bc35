"""The Gherkin step library: every step of the project's features, importable by users' own suites."""
