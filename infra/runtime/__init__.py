"""Starting and reaching a deployment: settings, NATS (embedded, clustered, its
identities and streams), Ray, the system's start-up and stop, logs and progress.

Imports nothing of infra.cli or infra.bench.
"""
