"""A real Celery task, published through Redis, consumed by a real worker process, written to PostgreSQL."""

import signal

import pytest

from agentiam.models import Heartbeat
from agentiam.tasks import heartbeat
from tests.support import child_env, start_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_process_runs_a_task_sent_through_redis_and_its_effect_lands_in_postgresql(redis_client, tmp_path):
    worker = start_worker(child_env(), tmp_path / "worker.log")
    try:
        heartbeat.delay("celery-integration-test")
        row = wait_until(
            lambda: Heartbeat.objects.filter(component="celery-integration-test").first(),
            timeout=60,
            what="the worker's heartbeat row",
        )
        assert row.pid == worker.pid  # written by the worker process (solo pool), not by this test
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert "Task agentiam.tasks.heartbeat" in (tmp_path / "worker.log").read_text()
