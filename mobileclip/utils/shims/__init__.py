"""Private-API shims: one module per library, each naming the version it was checked against."""
