"""A locustfile for kibench's reference service: run it with ``kibench run examples/locustfile.yaml``.

Plain Locust: kibench starts these users (``load.users``, ``load.duration`` from the scenario), points
them at the service it deployed (``host``) and records every request they make through Locust's client,
exactly like its own users' requests.  Against the reference service every request here answers 200;
point ``target.url`` at your own service and change the paths and bodies to fit it.
"""

from locust import FastHttpUser, between, task


class InferenceClient(FastHttpUser):
    """Mostly predictions of one or two inputs, now and then a look at the model list."""

    wait_time = between(0.05, 0.15)

    @task(8)
    def predict_one(self) -> None:
        self.client.post("/v1/predict", json={"inputs": [[0.5] * 8]}, name="/v1/predict (1 input)")

    @task(2)
    def predict_two(self) -> None:
        self.client.post("/v1/predict", json={"inputs": [[0.1] * 8, [0.9] * 8]}, name="/v1/predict (2 inputs)")

    @task(1)
    def models(self) -> None:
        self.client.get("/v1/models")
