"""The bodies of the verbs that are more than a call into the library: doctor, docker, bench, analyze,
data, and the launching of runs. cli.py parses, calls these or the library, and renders."""
