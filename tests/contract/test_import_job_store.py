"""ImportJobStore contract: the fake the service tests use behaves as the DynamoDB adapter does."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.imports.ports import ImportJob, ImportJobStore, ImportTask, RejectedRow
from chalicelib.imports.ranges import RangeCounts
from tests.fakes.imports import FakeImportJobStore

ID = "imp-orders-" + "a" * 24


def job(**fields: Any) -> ImportJob:
    return ImportJob(
        **{
            "import_id": ID,
            "kind": "orders",
            "fmt": "csv",
            "key": "orders/a.csv",
            "size": 100,
            "content_hash": "f" * 64,
            "created_at": "2026-03-02T10:00:00.000Z",
            "chunks": 2,
            "header": ["order_id"],
            **fields,
        }
    )


class ImportJobStoreContract:
    @pytest.fixture
    def store(self) -> ImportJobStore:
        raise NotImplementedError

    def test_a_job_is_created_once_and_read_back(self, store: ImportJobStore) -> None:
        assert store.create(job())
        assert not store.create(job(size=5))
        found = store.get(ID)
        assert found is not None and found.size == 100 and found.header == ["order_id"] and found.chunks_done == 0
        assert store.get("imp-orders-" + "b" * 24) is None
        assert [j.import_id for j in store.recent(5)] == [ID]

    def test_a_step_commits_its_counts_once(self, store: ImportJobStore) -> None:
        store.create(job())
        task = ImportTask(ID, "rows", 0, 0, 50)
        assert store.commit(
            task, accepted=3, rejected=1, messages=4, notices={"consent_unproven": 2}, final=False, next_skip=4
        )
        assert not store.commit(task, accepted=3, rejected=1, messages=4, notices={}, final=True, next_skip=None)
        marker = store.marker(ID, 0, 0)
        assert marker is not None and (marker.final, marker.next_skip, marker.sent) == (False, 4, False)
        store.mark_sent(ID, 0, 0)
        assert store.marker(ID, 0, 0).sent  # type: ignore[union-attr]
        store.commit(
            ImportTask(ID, "rows", 0, 0, 50, step=1),
            accepted=1,
            rejected=0,
            messages=1,
            notices={"consent_unproven": 1},
            final=True,
            next_skip=None,
        )
        found = store.get(ID)
        assert found is not None
        assert (found.rows_accepted, found.rows_rejected, found.messages, found.chunks_done) == (4, 1, 5, 1)
        assert found.notices == {"consent_unproven": 3}
        assert store.marker(ID, 1, 0) is None

    def test_counts_flags_and_finish_happen_once(self, store: ImportJobStore) -> None:
        store.create(job())
        assert store.save_counts(ID, 1, RangeCounts(3, 2, True))
        assert not store.save_counts(ID, 1, RangeCounts(9, 9, False))
        assert store.counts(ID) == {1: RangeCounts(3, 2, True)}
        assert store.get(ID).counted == 1  # type: ignore[union-attr]
        assert not store.has_flag(ID, "rows_sent") and store.set_flag(ID, "rows_sent")
        assert store.has_flag(ID, "rows_sent") and not store.set_flag(ID, "rows_sent")
        assert store.finish(ID, "2026-03-02T11:00:00.000Z", "finished")
        assert not store.finish(ID, "2026-03-02T12:00:00.000Z", "failed")
        found = store.get(ID)
        assert found is not None and (found.status, found.finished_at) == ("finished", "2026-03-02T11:00:00.000Z")

    def test_rejected_rows_are_kept_once_by_line_and_part_in_line_order(self, store: ImportJobStore) -> None:
        store.create(job())
        rows = [
            RejectedRow(12, "row", {"error": "invalid_time"}, "x" * 2000),
            RejectedRow(3, "order", {"error": "e"}, "r"),
        ]
        store.reject(ID, rows)
        store.reject(ID, rows[:1])
        found = store.rejected(ID)
        assert [(r.line, r.part) for r in found] == [(3, "order"), (12, "row")]
        assert len(found[1].raw) == 1000 and found[1].reason == {"error": "invalid_time"}
        assert [r.line for r in store.rejected(ID, after_line=3)] == [12]
        assert [r.line for r in store.rejected(ID, limit=1)] == [3]


class TestFakeImportJobStore(ImportJobStoreContract):
    @pytest.fixture
    def store(self) -> ImportJobStore:
        return FakeImportJobStore()


class TestDynamoImportJobStore(ImportJobStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> ImportJobStore:
        from chalicelib.imports.adapters.dynamodb_imports import DynamoImportJobStore

        return DynamoImportJobStore(dynamo.state_table)
