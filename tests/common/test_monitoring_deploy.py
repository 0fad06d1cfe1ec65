"""deploy/: the Grafana dashboard asks only for metrics /metrics exposes; Prometheus, Grafana's provisioning and
docker-compose's monitoring services load and agree on names, paths and ports."""

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from apps.discovery.models import DiscoveryRun
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.serving.gateway import metrics
from tests.common.metrics_scrape import parse

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.mark.django_db
def test_the_dashboard_asks_only_for_metrics_the_exporter_exposes(client: Client, project: Project) -> None:
    """Every metric counted or read once (a labelled metric appears with its first count), then scraped."""
    base = {"metadata": {"downshift_route": "shadow", "downshift_task": "t"}, "latency_ms": 12}
    metrics.observe(project.id, {**base, "metadata": {**base["metadata"], "downshift_shadow": {"agree": True}}})
    escalated = {"downshift_route": "escalated", "downshift_task": "t", "downshift_escalation": "specialist timed out"}
    failed = {"status": "error", "error": "upstream answered HTTP 500"}
    metrics.observe(project.id, {**base, "metadata": escalated, **failed})
    now = timezone.now()
    gpus = [{"index": 0, "name": "GPU", "memory_total_mb": 10, "memory_used_mb": 1, "utilization": 5}]
    GpuWorker.objects.create(name="celery@gpu-1", host="h", gpus=gpus, started_at=now, heartbeat_at=now)
    DiscoveryRun.objects.create(
        project=project, status=JobStatus.SUCCEEDED, started_at=now - timedelta(seconds=5), finished_at=now
    )
    exposed = {name for name, _ in parse(client.get("/metrics").content.decode())}

    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "downshift.json").read_text())
    asked = {name for expr in expressions(dashboard) for name in re.findall(r"\bdownshift_\w+", expr)}
    assert asked, "the dashboard asks for no metric"
    assert asked <= exposed, asked - exposed
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))


def test_every_panel_uses_the_provisioned_data_source() -> None:
    source = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "downshift.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == source["uid"]


def test_prometheus_scrapes_web_and_gateway_with_the_token() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {target for job in jobs.values() for group in job["static_configs"] for target in group["targets"]}
    assert targets == {"web:8000", "gateway:8001"}
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics"
        assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"


def test_compose_runs_monitoring_only_under_its_profile() -> None:
    compose = load_yaml(ROOT / "docker-compose.yml")
    services = compose["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    assert all("profiles" not in service for name, service in services.items() if name not in ("prometheus", "grafana"))
    assert "metrics_token" in compose["secrets"]
    assert services["prometheus"]["secrets"] == ["metrics_token"]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "downshift.yml")["providers"][0]
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
                if source == "./deploy/grafana/dashboards":
                    assert target == provider["options"]["path"]
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
