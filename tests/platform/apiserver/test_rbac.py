"""The embedded API's service-account tokens and RBAC authorizer, and what it refuses of a Job (no server: the
store and the functions the app calls)."""

from __future__ import annotations

import contextlib

import pytest

from harness.platform.local.apiserver import Store
from harness.platform.local.apiserver.batch import job_defaults, job_valid
from harness.platform.local.apiserver.errors import ApiError
from harness.platform.local.apiserver.rbac import Attributes, Audit, Tokens, allowed, attributes, forbidden
from harness.platform.local.apiserver.resources import by_path
from harness.platform.local.apiserver.routing import Target

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def store() -> Store:
    store = Store()
    for ns in ("team", "other"):
        with contextlib.suppress(ApiError):
            store.create("namespaces", None, {"metadata": {"name": ns}})
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"], "resourceNames": ["web"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    store.create(f"roles.{RBAC}", "team", {"metadata": {"name": "r"}, "rules": rules})
    subjects = [{"kind": "ServiceAccount", "name": "runner", "namespace": "team"}]
    binding = {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "r"},
        "subjects": subjects,
    }
    store.create(f"rolebindings.{RBAC}", "team", binding)
    nodes = {"metadata": {"name": "nodes"}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]}
    store.create(f"clusterroles.{RBAC}", None, nodes)
    cluster_binding = {
        "metadata": {"name": "nodes"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "nodes"},
        "subjects": subjects,
    }
    store.create(f"clusterrolebindings.{RBAC}", None, cluster_binding)
    return store


def test_a_service_account_may_do_what_its_role_says_and_nothing_else(store):
    tokens = Tokens("admin-token")
    runner = tokens.user(tokens.issue("team", "runner"))
    stranger = tokens.user(tokens.issue("other", "runner"))  # same name, another namespace
    assert runner is not None and runner.name == "system:serviceaccount:team:runner"
    assert tokens.user("admin-token").admin and tokens.user("forged") is None

    def can(user, verb, group, resource, ns, name=None):
        return allowed(store, user, Attributes(verb, group, resource, ns, name))

    assert can(runner, "list", "", "pods", "team") and can(runner, "watch", "", "pods", "team")
    assert not can(runner, "delete", "", "pods", "team", "p")  # a verb the rule lacks
    assert not can(runner, "list", "", "pods", "other")  # the Role binds in its namespace only
    assert can(runner, "get", "apps", "deployments", "team", "web")
    assert not can(runner, "get", "apps", "deployments", "team", "db")  # resourceNames
    assert can(runner, "get", "", "pods/log", "team", "p") and not can(runner, "create", "", "pods/exec", "team", "p")
    assert can(runner, "list", "", "nodes", None) and not can(runner, "watch", "", "nodes", None)
    assert not can(stranger, "list", "", "pods", "team") and not can(stranger, "list", "", "nodes", None)


def test_verbs_are_named_as_kube_apiserver_names_them():
    pods = by_path("", "v1", "pods")
    assert attributes("GET", Target(pods, "ns"), False).verb == "list"
    assert attributes("GET", Target(pods, "ns"), True).verb == "watch"
    assert attributes("GET", Target(pods, "ns", "p"), False).verb == "get"
    log = attributes("GET", Target(pods, "ns", "p", "log"), False)
    assert (log.verb, log.resource) == ("get", "pods/log")
    assert attributes("DELETE", Target(pods, "ns"), False).verb == "deletecollection"
    assert attributes("PATCH", Target(pods, "ns", "p"), False).verb == "patch"
    error = forbidden(Tokens("x").user("x"), Attributes("create", "", "pods/exec", "ns", "p"))
    assert (
        error.code == 403
        and 'cannot create resource "pods/exec" in API group "" in the namespace "ns"' in error.message
    )


def test_the_audit_keeps_service_accounts_requests_not_the_admins():
    tokens, audit = Tokens("admin"), Audit()
    sa = tokens.user(tokens.issue("team", "runner"))
    audit.record(sa, Attributes("list", "", "pods", "team", None), True)
    audit.record(sa, Attributes("list", "", "pods", "team", None), True)
    audit.record(sa, Attributes("delete", "", "pods", "team", "p"), False)
    audit.record(tokens.user("admin"), Attributes("list", "", "pods", "team", None), True)
    rows = audit.as_json()
    assert [(r["verb"], r["allowed"], r["count"]) for r in rows] == [("delete", False, 1), ("list", True, 2)]


def test_a_job_gets_kube_apiservers_defaults_and_must_not_restart_always():
    job = {
        "metadata": {"name": "run", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}},
    }
    job_defaults(job)
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (6, 1, 1)
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert spec["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "run"
    assert job_valid(job, None) == []
    spec["template"]["spec"]["restartPolicy"] = "Always"
    assert [c[0] for c in job_valid(job, None)] == ["spec.template.spec.restartPolicy"]
