"""The embedded local platform: a small cluster in one daemon process on loopback.

``daemon`` (process entry) runs ``supervisor`` (pods), ``api`` (JSON API) and ``balancer`` (the Service).
``client.LocalPlatform`` starts the daemon and implements ``harness.model.Platform`` over its API.
"""
