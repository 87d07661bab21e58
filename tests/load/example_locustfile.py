"""A user's own locustfile, as `load.locustfile` names it (docs/load.md, test_locustfile_and_workers.py)."""

from locust import FastHttpUser, HttpUser, constant, task


class Shopper(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def browse(self):
        self.client.get("/catalog")
        self.client.post("/missing", json={"sku": 1})


class Slow(HttpUser):  # requests-based client: recorded the same way
    wait_time = constant(0.2)

    @task
    def home(self):
        self.client.get("/")
