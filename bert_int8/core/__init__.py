"""The ground floor, imported by everything and importing nothing above it: params and their
schema, paths, errors (one line, exit 2), atomic outputs, the machine, progress lines, report
types, the serve limits, and reading metrics files."""
